"""Never healthy on what was not understood (issue 15 §4): a run whose core series were not read is
inconclusive with an error finding, and every NaN is reported whatever the series is called."""
from __future__ import annotations

import json

from typer.testing import CliRunner

from kto_doctor.cli import app

def write_state(path):
    """An HF trainer_state.json whose logger named its metrics in a way no ontology knows, all NaN."""
    path.mkdir()
    rows = [{"step": s, "epoch": s / 5, "my_objective": float("nan"), "my_gradient_size": float("nan")}
            for s in range(1, 6)]
    (path / "trainer_state.json").write_text(json.dumps({"global_step": 5, "log_history": rows}))
    return path


def analyze(path, *extra):
    res = CliRunner().invoke(app, ["analyze", str(path), "--format", "json", *extra])
    return res.exit_code, json.loads(res.stdout)


def test_unknown_names_all_nan_is_inconclusive_and_fails_the_gate(tmp_path):
    code, report = analyze(write_state(tmp_path / "run"))
    assert report["status"] == "inconclusive" and code == 1
    found = {f["rule"]: f for f in report["findings"]}
    un = found["RUN102"]
    assert un["symptom"] == "unrecognised-metrics" and un["severity"] == "error"
    assert "my_objective" in un["message"] and '--map "my_objective=loss"' in un["message"]
    nan = found["NUM104"]
    assert nan["symptom"] == "nan-inf" and "my_objective, my_gradient_size" in nan["title"]


def test_mapping_the_name_makes_the_run_understood(tmp_path):
    code, report = analyze(write_state(tmp_path / "run"), "--map", "my_objective=loss")
    assert report["status"] == "failing"  # understood now: a NaN loss
    rules = {f["rule"] for f in report["findings"]}
    assert "RUN102" not in rules and "NUM101" in rules
