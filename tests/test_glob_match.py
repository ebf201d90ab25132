"""registry.glob_match answers as fnmatch.fnmatchcase does (it only avoids compiling a regex per pattern)."""
import fnmatch
import random

from kto_doctor.sources.registry import BUILTIN, glob_match, registry


def test_same_as_fnmatchcase_on_random_names_and_patterns():
    rng = random.Random(0)
    alphabet = "ab*._"
    for _ in range(20000):
        pattern = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 7)))
        name = "".join(rng.choice("ab._*") for _ in range(rng.randint(0, 9)))
        assert glob_match(name, pattern) == fnmatch.fnmatchcase(name, pattern), (name, pattern)


def test_same_as_fnmatchcase_on_every_source_pattern():
    names = ["trainer_state.json", "checkpoint-5_trainer_state.json", "trainer_state.json.bak", "events.out.tfevents.1.x",
             "metrics.csv", "train_results.json", "_results.json", "results.json", "a.yaml", ".yaml", "yaml",
             "training_args.json", "my_training_args_v2.json", "config.json", "x_config.json", "mlflow.db",
             "trainer_log.jsonl", "old_trainer_log_2.jsonl", "tfevents", "a?b", "[x]"]
    patterns = {p for s in registry().sources for p in s.names} | {"a?b", "[x]", "*[x]*", "*a*b*a*"}
    assert len(BUILTIN) and patterns
    for pattern in patterns:
        for name in names:
            assert glob_match(name, pattern) == fnmatch.fnmatchcase(name, pattern), (name, pattern)
