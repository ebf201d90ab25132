"""`--against REF`: a run checked against a known-good reference run (REF101 band, REF102 missing metric)."""
from __future__ import annotations

import json
import math
import random

import pytest
from typer.testing import CliRunner

from kto_doctor.analysis import analyze, evaluate, load_rules
from kto_doctor.cli import app
from kto_doctor.compare import alignment, band
from kto_doctor.run import load_run

from conftest import SAMPLES

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, list(map(str, args)))


def departures(report) -> dict[str, int]:
    """metric -> first step where the run left the reference band."""
    return {f.metrics[0]: f.steps[0] for f in report.findings if f.rule == "REF101"}


def test_kto_learning_rate_too_high_leaves_the_band_where_the_update_wrecks_the_policy():
    # SCENARIO.md: lr 0.02 at step 2 (warm-up of a 0.1 peak); at step 3 logps/chosen -9.2 -> -118.
    r = analyze(SAMPLES / "lf-kto-lr-too-high", against=SAMPLES / "lf-kto-healthy")
    dep = departures(r)
    assert dep["learning_rate"] == 2
    assert dep["logps/chosen"] == 3 and dep["logps/rejected"] == 3 and dep["rewards/margins"] == 3
    assert dep["loss"] == 3
    assert r.comparison.align == "step" and r.status == "failing"
    lr = next(f for f in r.findings if f.rule == "REF101" and f.metrics == ["learning_rate"])
    assert lr.evidence["observed"] == pytest.approx(0.02) and lr.evidence["expected"] == pytest.approx(4e-5 * 2.5, rel=0.5)
    assert lr.evidence["deviation_half_widths"] > 1 and "above" in lr.message
    logps = next(f for f in r.findings if f.rule == "REF101" and f.metrics == ["logps/chosen"])
    assert "below" in logps.message and logps.evidence["observed"] < -100
    # the changed setting is named as the probable cause
    assert any("learning_rate 0.1 (reference 0.0002)" in c.text for c in lr.causes)


def test_sft_learning_rate_too_high_leaves_the_band_at_the_blow_up():
    # SCENARIO.md: grad_norm 3 -> 10.5 at step 3; the loss climbs from step 3 and stays far above.
    r = analyze(SAMPLES / "lf-sft-lr-too-high", against=SAMPLES / "lf-sft-healthy")
    dep = departures(r)
    assert dep["grad_norm"] == 3
    assert 3 <= dep["loss"] <= 5
    loss = next(f for f in r.findings if f.rule == "REF101" and f.metrics == ["loss"])
    assert "above" in loss.message and loss.evidence["peak_half_widths"] > 5
    # the run has no eval split: the reference's eval_loss is missing, which is a finding, not a pass
    missing = [f for f in r.findings if f.rule == "REF102"]
    assert [f.metrics for f in missing] == [["eval_loss"]] and missing[0].severity == "error"


SAMPLE_RUNS = sorted(p.name for p in SAMPLES.iterdir() if p.is_dir())


@pytest.mark.parametrize("name", SAMPLE_RUNS)
def test_a_run_against_itself_is_clean(name):
    r = analyze(SAMPLES / name, against=SAMPLES / name)
    assert r.comparison.metrics, "nothing was compared"
    assert not [f for f in r.findings if f.symptom == "regression"]
    assert "REF101" in r.passed


def _write_log(path, losses, lrs, total):
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "trainer_log.jsonl", "w") as f:
        for i, (loss, lr) in enumerate(zip(losses, lrs), start=1):
            f.write(json.dumps({"current_steps": i, "total_steps": total, "loss": loss, "lr": lr}) + "\n")
    return path


def _curve(n, seed, noise=0.02):
    rng = random.Random(seed)
    losses = [2.0 * math.exp(-3 * i / n) + 0.5 + rng.gauss(0, noise) for i in range(1, n + 1)]
    lrs = [1e-4 * (1 - i / n) for i in range(1, n + 1)]
    return losses, lrs


def test_a_rerun_with_another_seed_stays_inside_and_a_shorter_run_is_aligned_by_fraction(tmp_path):
    ref = _write_log(tmp_path / "ref", *_curve(400, seed=1), total=400)
    rerun = _write_log(tmp_path / "rerun", *_curve(400, seed=2), total=400)
    half = _write_log(tmp_path / "half", *_curve(200, seed=3), total=200)
    r = analyze(rerun, against=ref)
    assert r.comparison.align == "step" and not departures(r)
    r = analyze(half, against=ref)
    assert r.comparison.align == "fraction" and r.comparison.factor == pytest.approx(0.5)
    assert not departures(r)
    # forced step alignment: the 200-step run is compared with the reference's first half, and leaves it
    r = analyze(half, against=ref, align="step")
    assert "loss" in departures(r) and "learning_rate" in departures(r)


def test_a_loss_that_stops_improving_leaves_the_band_where_it_stops(tmp_path):
    losses, lrs = _curve(300, seed=1)
    ref = _write_log(tmp_path / "ref", losses, lrs, total=300)
    bad = list(losses[:150]) + [losses[150] + random.Random(5).gauss(0, 0.02) for _ in range(150)]
    run = _write_log(tmp_path / "run", bad, lrs, total=300)
    dep = departures(analyze(run, against=ref))
    # the reference keeps falling by ~0.0016 per step; the band (noise 0.02, k 4) is left some steps later
    assert 150 < dep["loss"] < 230 and "learning_rate" not in dep


def test_band_is_robust_to_a_spike_and_has_a_floor_for_a_noise_free_reference():
    vals = [1.0] * 20
    vals[10] = 100.0  # one spike in the reference moves neither the median nor the MAD
    b = band("loss", range(1, 21), vals)
    assert b.center[10] == 1.0 and b.spread.max() == pytest.approx(0.02)  # floor: 2% of the median
    lr = band("learning_rate", range(1, 6), [0, 0, 0, 0, 0])
    assert lr.spread.min() > 0  # an all-zero reference still has a (tiny) band


def test_alignment_modes(tmp_path):
    a = load_run(_write_log(tmp_path / "a", *_curve(100, 1), total=100))
    b = load_run(_write_log(tmp_path / "b", *_curve(50, 1), total=50))
    assert alignment(a, a) == ("step", 1.0)
    assert alignment(a, b) == ("fraction", 2.0)
    assert alignment(a, b, "step") == ("step", 1.0)


def test_cli_gate_formats_and_options(tmp_path):
    run, ref = SAMPLES / "lf-kto-lr-too-high", SAMPLES / "lf-kto-healthy"
    r = cli("analyze", run, "--against", ref, "--select", "REF", "--format", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert doc["against"]["path"].endswith("lf-kto-healthy") and doc["against"]["align"] == "step"
    assert {f["rule"] for f in doc["findings"]} == {"REF101"}
    assert all(f["symptom"] == "regression" for f in doc["findings"])
    # SARIF carries the rule and the finding
    r = cli("analyze", run, "--against", ref, "--select", "REF", "--format", "sarif")
    sarif = json.loads(r.stdout)
    assert any(res["ruleId"] == "REF101" for res in sarif["runs"][0]["results"])
    # --against-metrics narrows the comparison; --ignore, --fail-on and overrides treat REF101 like any rule
    r = cli("analyze", run, "--against", ref, "--against-metrics", "learning_rate", "--select", "REF", "-f", "json")
    assert [f["evidence"]["metric"] for f in json.loads(r.stdout)["findings"]] == ["learning_rate"]
    assert cli("analyze", run, "--against", ref, "--select", "REF", "--ignore", "REF101").exit_code == 0
    over = tmp_path / "over.yaml"
    over.write_text("overrides:\n  - {rule: REF101, severity: warning}\n")
    assert cli("analyze", run, "--against", ref, "--select", "REF", "--rules", over).exit_code == 0
    assert cli("analyze", run, "--against", ref, "--select", "REF", "--rules", over,
               "--fail-on", "warning").exit_code == 1
    # a baseline accepts today's departures
    bl = tmp_path / "bl.json"
    cli("analyze", run, "--against", ref, "--write-baseline", bl)
    assert cli("analyze", run, "--against", ref, "--baseline", bl).exit_code == 0


@pytest.mark.parametrize("args,message", [
    (["--against", "nope"], "--against: nope"),
    (["--against-metrics", "loss"], "needs --against"),
    (["--against", SAMPLES / "lf-kto-healthy", "--against-metrics", "nosuch*"], "no such metric"),
    (["--against", SAMPLES / "lf-kto-healthy", "--align", "diagonal"], "--align"),
])
def test_cli_usage_errors_are_exit_2(args, message):
    r = cli("analyze", SAMPLES / "lf-kto-healthy", *args)
    assert r.exit_code == 2 and message in r.output


def test_html_draws_both_curves_and_the_band(tmp_path):
    out = tmp_path / "r.html"
    r = cli("analyze", SAMPLES / "lf-kto-lr-too-high", "--against", SAMPLES / "lf-kto-healthy",
            "-f", "html", "-o", out)
    assert r.exit_code == 1
    html = out.read_text()
    card = html[html.index('id="finding-REF101"'):]
    card = card[:card.index("</article>")]
    assert '<polygon class="band"' in card and '<polyline class="refln"' in card and 'class="ln0"' in card
    assert 'id="finding-REF101-2"' in html  # one card per metric, each with its own anchor


def test_scan_against(tmp_path):
    r = cli("scan", SAMPLES / "lf-kto-healthy", SAMPLES / "lf-kto-lr-too-high", "--against",
            SAMPLES / "lf-kto-healthy", "--select", "REF", "-f", "json", "-j", "1")
    assert r.exit_code == 1
    by_path = {d["run"]["path"].rsplit("/", 1)[-1]: d for d in json.loads(r.stdout)}
    assert by_path["lf-kto-healthy"]["status"] == "healthy"
    assert by_path["lf-kto-lr-too-high"]["status"] == "failing"


def test_reference_rules_are_silent_without_a_reference():
    rs = load_rules()
    rep = evaluate(load_run(SAMPLES / "lf-kto-healthy"), rs)
    assert not any(x.startswith("REF") for x in rep.passed + [s.rule for s in rep.skipped])


def test_the_readme_excerpt_is_what_the_command_prints():
    from conftest import REPO

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    block = readme[readme.index("kto-doctor analyze sample_logs/lf-kto-lr-too-high --against"):]
    block = block[:block.index("```")]
    shown = [ln.split("REF101 ", 1)[1] for ln in block.splitlines() if "REF101 " in ln]
    cause = next(ln.split("→ ", 1)[1] for ln in block.splitlines() if "→ " in ln)
    r = cli("analyze", SAMPLES / "lf-kto-lr-too-high", "--against", SAMPLES / "lf-kto-healthy", "--color", "never")
    out = " ".join(r.stdout.split())
    assert len(shown) == 2
    for line in shown + [cause]:
        assert " ".join(line.split()) in out, line


def test_the_docs_team_comparison_rule_works(tmp_path):
    import re

    from conftest import REPO

    text = (REPO / "docs" / "rules.md").read_text(encoding="utf-8")
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", text, flags=re.S) if b.startswith("id: TEAMREF1"))
    p = tmp_path / "teamref.yaml"
    p.write_text(block)
    assert cli("rules", "check", p).exit_code == 0
    res = cli("rules", "test", p)
    assert res.exit_code == 0 and res.stdout.strip().splitlines()[-1] == "2 passed, 0 failed"
    rs = load_rules([p])
    bad = evaluate(load_run(SAMPLES / "lf-sft-lr-too-high"), rs, select=["TEAMREF1"],
                   against=load_run(SAMPLES / "lf-sft-healthy"))
    assert [f.rule for f in bad.findings] == ["TEAMREF1"] and bad.findings[0].steps[0] == 11
    same = evaluate(load_run(SAMPLES / "lf-sft-healthy"), rs, select=["TEAMREF1"],
                    against=load_run(SAMPLES / "lf-sft-healthy"))
    assert not same.findings
