"""verl's configuration: the tree a run prints at start-up (under Ray's prefix, with colour codes) and Hydra's
`.hydra/config.yaml`, read into the keys the rules use (group size, estimator, rate, response limit, KL)."""
from __future__ import annotations

import pprint

import pytest

import kto_doctor
from kto_doctor import verl_config
from kto_doctor.sources import verl_console

TREE = {"actor_rollout_ref": {"actor": {"optim": {"lr": 1e-06, "lr_warmup_steps": -1, "lr_warmup_steps_ratio": 0.0},
                                        "use_kl_loss": True, "kl_loss_coef": 0.001, "entropy_coeff": 0,
                                        "grad_clip": 1.0, "checkpoint": {"save_contents": ["model", "optimizer"]}},
                              "rollout": {"n": 5, "temperature": 1.0, "name": "vllm"},
                              "model": {"path": "Qwen/Qwen2.5-3B-Instruct"}},
        "algorithm": {"adv_estimator": "grpo", "use_kl_in_reward": False, "kl_ctrl": {"kl_coef": 0.001}},
        "data": {"max_prompt_length": 512, "max_response_length": 1024, "train_batch_size": 256},
        "trainer": {"total_epochs": 15, "total_training_steps": None, "logger": ["console"]}}


def _printed(tree: dict, prefix: str = "\x1b[36m(TaskRunner pid=16623)\x1b[0m ") -> str:
    return "".join(prefix + line + "\n" for line in pprint.pformat(tree, width=80).split("\n"))


def test_the_tree_verl_printed_under_the_ray_prefix_gives_the_rules_keys():
    head = "ray init kwargs: {'num_cpus': 8}\n" + _printed(TREE) + "(TaskRunner pid=16623) step:1 - actor/lr:1e-06\n"
    tree = verl_config.printed_tree(head)
    assert tree == TREE
    assert verl_config.facts(tree) == {
        "learning_rate": 1e-06, "warmup_ratio": 0.0, "max_grad_norm": 1.0, "entropy_coeff": 0, "num_generations": 5,
        "temperature": 1.0, "model_name_or_path": "Qwen/Qwen2.5-3B-Instruct", "max_completion_length": 1024,
        "max_prompt_length": 512, "train_batch_size": 256, "adv_estimator": "grpo", "num_train_epochs": 15,
        "beta": 0.001, "method": "grpo"}


@pytest.mark.parametrize("prefix", ["> ", "[rank0]: ", "    ", "(main_task pid=7) "])
def test_the_tree_behind_a_pastes_or_launchers_prefix_is_read(prefix):
    head = "ray init\n" + _printed(TREE, prefix) + prefix + "step:1 - actor/lr:1e-06\n"
    assert verl_config.printed_tree(head) == TREE


def test_the_tree_behind_a_timestamp_whose_digits_change_is_read():
    lines = pprint.pformat(TREE, width=80).split("\n")
    head = "".join(f"2025-06-01 10:00:{i % 60:02d},{i * 7 % 1000:03d} INFO {line}\n" for i, line in enumerate(lines))
    assert verl_config.printed_tree(head) == TREE


def test_a_tree_cut_before_its_end_or_not_verls_is_no_configuration():
    printed = _printed(TREE)
    assert verl_config.printed_tree(printed[: len(printed) // 2]) is None
    assert verl_config.printed_tree(_printed({"data": {"max_response_length": 1024}})) is None  # no actor_rollout_ref


def test_a_verl_console_log_states_its_group_size_and_grpo_judges_it(tmp_path):
    tree = {**TREE, "actor_rollout_ref": {**TREE["actor_rollout_ref"], "rollout": {"n": 1, "temperature": 1.0}}}
    steps = "".join(f"(TaskRunner pid=16623) step:{s} - actor/entropy:0.5 - actor/pg_loss:0.01 - "
                    f"critic/score/mean:{0.3 + 0.01 * (s % 3):.2f} - critic/score/max:1.0 - critic/score/min:0.0\n"
                    for s in range(1, 13))
    p = tmp_path / "grpo_train.log"
    p.write_text(_printed(tree) + steps)
    data = verl_console.read(p)
    assert data.config["num_generations"] == 1 and data.config["method"] == "grpo"
    report = kto_doctor.analyze(p)
    assert report.run.method == "grpo"
    assert "GRPO116" in [f.rule for f in report.findings]


def test_hydras_saved_tree_is_read_the_same_way(tmp_path):
    import yaml

    run = tmp_path / "outputs" / "2025-06-01" / "10-00-00"
    (run / ".hydra").mkdir(parents=True)
    (run / ".hydra" / "config.yaml").write_text(yaml.safe_dump(TREE))
    (run / "train.log").write_text("".join(f"step:{s} - critic/score/mean:0.{s} - actor/entropy:0.4\n"
                                           for s in range(1, 9)))
    loaded = kto_doctor.load_run(run)
    assert loaded.config["num_generations"] == 5 and loaded.config["max_completion_length"] == 1024
    assert loaded.config["learning_rate"] == 1e-06
