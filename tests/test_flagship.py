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


# The one console line of LlamaFactory#7380 (hiyouga/LLaMA-Factory issue 7380, verbatim).
ISSUE_LINE = ("{'loss': 0.5806, 'grad_norm': 0.16000482439994812, 'learning_rate': 4.22029964127453e-08, "
              "'rewards/chosen': 0.00045649479720365763, 'logps/chosen': -1.7963722954565922, "
              "'logits/chosen': -202528030.24783862, 'rewards/rejected': 5.853247662253727e-05, "
              "'logps/rejected': -10.940386572157836, 'logits/rejected': -213156961.200883, "
              "'rewards/margins': 0.0003979623205811204, 'kl': 11.288576126098633, 'epoch': 0.0}")


def test_the_issue_line_alone_yields_all_four_findings(tmp_path):
    """With one line and no config: the summed logits, the no-learning loss (predicted from the formula
    at the line's own KL), the KL of 11 at the first step, and the learning rate far under KTO's range."""
    log = tmp_path / "issue7380.log"
    log.write_text(ISSUE_LINE + "\n", encoding="utf-8")
    report = analyze_json(log)
    found = {f["rule"]: f for f in report["findings"]}
    assert set(found) == {"KTO101", "KTO102", "KTO103", "SCHED104"}, sorted(found)
    # 1. an artifact, not an explosion
    assert found["KTO101"]["symptom"] == "logits-metric-artifact" and found["KTO101"]["severity"] == "info"
    # 2. the no-learning loss: the formula at z = 11.29, beta 0.1 reproduces 0.5806 for p = 0.66
    ev = found["KTO102"]["evidence"]
    assert abs(ev["predicted_loss"] - 0.5806) < 5e-4 and abs(ev["desirable_fraction"] - 0.658) < 0.01
    # 3. the KL at the first logged step
    assert found["KTO103"]["steps"] == [1, 1] and found["KTO103"]["evidence"]["kl"] == 11.2886
    # 4. the learning rate: 12x under KTO's minimum at epoch 0.0, both readings, and the --set that decides
    lr = found["SCHED104"]
    assert lr["symptom"] == "lr-out-of-range" and "12x under the bottom" in lr["message"]
    assert "--set learning_rate=" in lr["message"]
    assert {c["id"] for c in lr["causes"]} == {"warmup-too-long", "lr-too-low"}
    assert report["diagnosis"][0]["cause"] == "warmup-too-long"
    assert not any("n/a" in f["title"] + f["message"] for f in report["findings"])


def test_the_issue_line_with_the_configured_peak_is_a_warm_up(tmp_path):
    """--set learning_rate=1e-6 warmup_steps=4739 turns the two readings into one: step 200 of the warm-up."""
    log = tmp_path / "issue7380.log"
    log.write_text(ISSUE_LINE + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(log), "--format", "json", "--set", "learning_rate=1e-6",
                                      "--set", "warmup_steps=4739"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    found = {f["rule"]: f for f in report["findings"]}
    assert "SCHED104" not in found
    assert found["SCHED102"]["title"].startswith("Step 200 of a 4,739-step warm-up")
    assert not any(c["cause"] == "lr-too-low" for c in report["diagnosis"])


def test_the_same_line_from_trl_1_9_is_a_real_explosion(tmp_path):
    """TRL 1.9 logs KTO logits/* as a per-token mean (PR #6424): -2e8 is then not explained away as a sum."""
    log = tmp_path / "issue7380.log"
    log.write_text(ISSUE_LINE + "\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["analyze", str(log), "--format", "json", "--set", "trl_version=1.9.0"])
    assert result.exit_code == 1, result.output  # an error now
    found = {f["rule"]: f for f in json.loads(result.stdout)["findings"]}
    assert "KTO101" not in found
    assert found["LOGIT101"]["severity"] == "error" and "per-token mean, TRL 1.9.0" in found["LOGIT101"]["message"]
    older = CliRunner().invoke(app, ["analyze", str(log), "--format", "json", "--set", "trl_version=1.8.0"])
    found = {f["rule"]: f for f in json.loads(older.stdout)["findings"]}
    assert "LOGIT101" not in found and "This run (TRL 1.8.0) logs that sum." in found["KTO101"]["message"]


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
