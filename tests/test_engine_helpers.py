"""Expression helpers the rules of issue 12/15 rely on: sparse-log row counts, lists of metric names, versions."""
from __future__ import annotations

import pytest

from kto_doctor.engine.functions import FUNCTIONS
from kto_doctor.engine.testing import synthetic_run


def call(name, *args):
    return FUNCTIONS[name].fn(*args)


def test_rows_needed_scales_with_what_was_logged():
    run = synthetic_run({"loss": "1x4", "long": "1x40"})
    assert call("rows_needed", 3, run.series("loss")) == 2  # 4 rows logged: half of them
    assert call("rows_needed", 3, run.series("long")) == 3
    assert call("rows_needed", 3, None) == 1


def test_lists_of_metric_names():
    assert call("minus", ["loss", "reward", "x"], ["loss"]) == ["reward", "x"]
    assert call("minus", ["loss"], "loss") == []
    assert call("count", ["a", "b"]) == 2 and call("first", ["a", "b"]) == "a" and call("first", []) is None
    with pytest.raises(TypeError):
        call("minus", "loss", ["loss"])


@pytest.mark.parametrize("version,minimum,expected", [
    ("0.19.1", "0.19", True), ("0.18.2", "0.19", False), ("v1.9.0.dev0", "1.9", True), ("1.10", "1.9", True),
    ("4.46", "4.46.0", True), (None, "0.19", None), ("unknown", "1.0", None)])
def test_version_at_least(version, minimum, expected):
    assert call("version_at_least", version, minimum) is expected


def test_series_logged_at_different_steps_compare_on_the_union_of_their_steps():
    import pandas as pd

    from kto_doctor.engine import expr

    loss = pd.Series([0.5, 0.6, 0.7, 0.8], index=[1, 2, 3, 4])
    kl_band = pd.Series([0.55, 0.75], index=[2, 4])  # logged every other step
    r = expr._compare(">=", loss, kl_band)
    assert r.index.tolist() == [1, 2, 3, 4] and r.tolist() == [False, True, False, True]


def test_a_kto_rule_reads_kl_logged_every_other_step(tmp_path):
    """KTO102 compares the loss with a band computed from kl; with kl on half the rows it could not be evaluated
    ("Can only compare identically-labeled Series") and a KTO run that never moved was called healthy."""
    import json

    import kto_doctor

    rows = [{"step": s, "loss": 0.5, "rewards/chosen": 0.0, "rewards/rejected": 0.0, "learning_rate": 5e-7,
             **({"kl": 0.4} if s % 2 == 0 else {})} for s in range(1, 61)]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": rows}))
    report = kto_doctor.analyze(tmp_path, method="kto")
    assert "KTO102" not in [s.rule for s in report.skipped]
    assert "KTO102" in [f.rule for f in report.findings]


def test_asof_reads_a_sparse_metric_at_every_step_of_a_dense_one():
    import math

    import pandas as pd

    rewards = pd.Series([1.0, 0.3, 1.0], index=[3.0, 5.0, 9.0])  # once per generation
    grads = pd.Series([0.1, 0.0, 0.0, 0.2, 0.0, 0.0], index=[2.0, 3.0, 4.0, 6.0, 9.0, 10.0])
    got = call("asof", rewards, grads)
    assert list(got.index) == [2.0, 3.0, 4.0, 6.0, 9.0, 10.0]
    assert math.isnan(got.iloc[0])  # before the first reward row
    assert got.iloc[1:].tolist() == [1.0, 1.0, 0.3, 1.0, 1.0]
    assert call("asof", None, grads) is None


def test_denominator_finds_the_evaluation_set_an_accuracy_was_counted_over():
    assert call("denominator", 23 / 28, 5000) == 28.0
    assert call("denominator", 296 / 324, 5000) == 81.0  # 296/324 = 74/81
    assert call("denominator", 0.3273814560943274, 5000) is None  # a count over a larger set
    assert call("denominator", 0.821429, 5000) is None  # rounded: no count gives it to 1e-9
    assert call("denominator", None, 5000) is None
