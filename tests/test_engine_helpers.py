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
