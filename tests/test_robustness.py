"""Inputs that real users produce by accident: odd steps, non-numeric config values, odd format specs."""
from __future__ import annotations

import json

import pytest

import kto_doctor
from kto_doctor.engine.expr import ExprError
from kto_doctor.engine.template import compile_template, format_value


def test_steps_that_are_not_whole_numbers_are_dropped_with_a_warning(tmp_path):
    rows = [{"step": 1, "loss": 1.0}, {"step": 1e30, "loss": 2.0}, {"step": 2.5, "loss": 4.0},
            {"step": 3, "loss": 0.9}, {"step": 4, "loss": 0.8}]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": rows}))
    run = kto_doctor.load_run(tmp_path)
    assert run.series("loss").index.max() < 2 ** 53 and (run.series("loss").index >= 0).all()
    assert any("not a whole number" in w for s in run.sources for w in s.warnings)
    kto_doctor.analyze(tmp_path)  # and the rules run on what is left


def test_non_numeric_learning_rate_in_a_config_reads_as_unknown(tmp_path):
    rows = [{"step": i, "loss": 1.0, "learning_rate": 0.0} for i in range(1, 6)]
    (tmp_path / "trainer_state.json").write_text(json.dumps({"log_history": rows}))
    (tmp_path / "train.yaml").write_text("stage: sft\nlearning_rate: auto\nlr_scheduler_type: cosine\n")
    run = kto_doctor.load_run(tmp_path)
    assert run.config.get("learning_rate") is None
    report = kto_doctor.analyze(tmp_path)
    # the logged rate of 0 is still caught, instead of every schedule rule failing on a string
    assert any(f.rule == "SCHED103" for f in report.findings)
    assert not [s for s in report.skipped if "could not be evaluated" in s.reason]


def test_format_specs_python_cannot_apply_are_refused_at_load():
    with pytest.raises(ExprError):
        compile_template("{loss:.3d}")
    assert format_value(1234.5, ",d") == "1,234"
    assert format_value(float("inf"), ",d") == "inf"
