"""The flagship case of the product (LlamaFactory#7380 reconstructed) and its healthy counterpart.

These are the verdicts the issue "kto-doctor analyze" fixes: an artifact explained with its arithmetic,
the predicted no-learning loss, the KL at start, the warm-up named, and the warm-up ranked first.
"""
from __future__ import annotations

import json
import re

from typer.testing import CliRunner

import kto_doctor
from kto_doctor.cli import app

from conftest import SAMPLES

FLAGSHIP = SAMPLES / "kto-flagship"


def analyze_json(path):
    result = CliRunner().invoke(app, ["analyze", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output  # warnings and info only: below the default --fail-on error
    return json.loads(result.stdout)


def by_symptom(report):
    out = {}
    for f in report["findings"]:
        out.setdefault(f["symptom"], []).append(f)
    return out


def test_flagship_reads_console_and_config_as_llamafactory_kto():
    run = kto_doctor.load_run(FLAGSHIP)
    assert run.method == "kto" and run.framework == "llamafactory"
    # Steps come from the tqdm counter: the issue's line is step 200.
    assert run.series("learning_rate").loc[200] == 4.22029964127453e-08
    assert run.series("logits/chosen").loc[200] == -202528030.24783862
    assert run.config["learning_rate"] == 1e-6 and run.config["warmup_steps_effective"] == 4739


def test_flagship_verdict():
    report = analyze_json(FLAGSHIP)
    found = by_symptom(report)
    # 1. the -2e8 is a metric artifact, explained with the numbers, and never called an explosion
    assert "logits-metric-artifact" in found and "exploding-logits" not in found
    artifact = found["logits-metric-artifact"][0]
    assert "152,064" in artifact["message"] and "1,024" in artifact["message"]
    assert -2.0 < artifact["evidence"]["implied_mean_logit"] < -0.5
    # 2. flat loss with the predicted no-learning loss next to the observed one
    flat = found["flat-loss"][0]
    assert "predicted" in flat["message"] and "no-learning loss" in flat["message"]
    assert abs(flat["evidence"]["predicted_loss"] - flat["evidence"]["observed_loss"]) < 0.01
    # 3. the schedule: step N of a 4,739-step warm-up
    sched = " ".join(f["message"] for f in found["lr-schedule"])
    assert "4,739-step warm-up" in sched
    # 4. KL at the start, with the reference mismatch among the causes
    assert any(c["id"] == "reference-mismatch" for c in found["kl-high-at-start"][0]["causes"])
    # The warm-up (not learning yet) is the top cause, backed by two findings.
    top = report["diagnosis"][0]
    assert top["cause"] == "warmup-too-long" and len(top["findings"]) >= 2
    assert report["status"] == "warning"


def test_flagship_predicted_loss_reproduces_the_issue_line():
    """At the issue's own numbers the formula gives 0.5806 at p = 0.66 (metrics-and-losses.md §2.2)."""
    import math

    beta, z, p = 0.1, 11.288576126098633, 0.658
    predicted = 0.5 + (p - 0.5) * math.tanh(beta * z / 2)
    assert abs(predicted - 0.5806) < 5e-4


def test_healthy_kto_is_healthy():
    report = analyze_json(SAMPLES / "kto-healthy")
    assert report["status"] == "healthy"
    assert all(f["severity"] == "info" for f in report["findings"])


def test_text_report_leads_with_the_top_cause():
    result = CliRunner().invoke(app, ["analyze", str(FLAGSHIP)], env={"NO_COLOR": "1"})
    out = result.stdout
    assert "\x1b[" not in out  # NO_COLOR honoured
    first_cause = re.search(r"^\s*1\.\s+[0-9.]+\s+(.*)$", out, re.M)
    assert first_cause and "warm-up" in first_cause.group(1)
