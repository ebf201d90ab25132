"""The diagnosis never holds two causes that contradict each other, nor a finding that is both a problem and
"not a problem"; contradictions are data in the cause catalog, resolved by the evidence."""
from __future__ import annotations

import pytest

from kto_doctor.diagnosis import diagnose, exclusions
from kto_doctor.engine.rules import load_builtin
from kto_doctor.model import Cause, Finding


@pytest.fixture(scope="module")
def catalog():
    return load_builtin().catalog


def finding(rule, severity, *causes):
    return Finding(rule=rule, name=rule.lower(), symptom="other", severity=severity, title=rule, message="",
                   steps=[1, 2], causes=[Cause(cid, score, f"{cid} text") for cid, score in causes])


def test_contradictions_are_declared_in_the_catalog_in_both_directions(catalog):
    ex = exclusions(catalog)
    assert "lr-too-low" in ex["lr-too-high"] and "lr-too-high" in ex["lr-too-low"]


def test_lr_too_high_and_too_low_never_both_survive_the_stronger_wins(catalog):
    findings = [
        finding("LOSS101", "warning", ("lr-too-high", 0.7)),           # 0.7 x 0.85 = 0.595
        finding("LOSS103", "warning", ("lr-too-low", 0.45), ("labels-masked", 0.3)),
        finding("GRAD102", "info", ("lr-too-high", 0.55)),            # info: problems do not vote
    ]
    diag = diagnose(findings, catalog)
    causes = [d.cause for d in diag]
    assert "lr-too-high" in causes and "lr-too-low" not in causes
    top = next(d for d in diag if d.cause == "lr-too-high")
    assert top.overrules == [{"cause": "lr-too-low", "score": pytest.approx(0.383, abs=1e-3), "findings": ["LOSS103"]}]
    # ... and the report holds it nowhere: the losing cause left the finding too.
    assert [c.id for c in findings[1].causes] == ["labels-masked"]


def test_the_other_side_wins_when_the_evidence_says_so(catalog):
    findings = [
        finding("LOSS103", "error", ("lr-too-low", 0.6)),
        finding("SCHED104", "error", ("lr-too-low", 0.6)),
        finding("LOSS101", "warning", ("lr-too-high", 0.5)),
    ]
    causes = [d.cause for d in diagnose(findings, catalog)]
    assert causes == ["lr-too-low"]


def test_a_problem_beats_an_explanation_at_equal_strength(catalog):
    # likelihood-displacement (healthy DPO) excludes over-optimisation; equal votes keep the problem.
    findings = [
        finding("DPO106", "warning", ("over-optimisation", 0.5)),
        finding("DPOX", "warning", ("likelihood-displacement", 0.5)),
    ]
    causes = [d.cause for d in diagnose(findings, catalog)]
    assert causes == ["over-optimisation"]


def test_a_finding_is_a_problem_or_not_a_problem_never_both(catalog):
    # KTO103 on a LLaMA-Factory run without the window: the reference mismatch is its reading (top cause);
    # the summed-window explanation stays on the finding but does not reach "Not a problem".
    f = finding("KTO103", "warning", ("reference-mismatch", 0.85), ("kl-window-sum", 0.6))
    diag = diagnose([f], catalog)
    assert [(d.cause, d.kind) for d in diag] == [("reference-mismatch", "problem")]
    assert [c.id for c in f.causes] == ["reference-mismatch", "kl-window-sum"]
    for d in diag:
        assert d.kind == "problem"


def test_an_info_finding_reaches_the_diagnosis_only_as_an_explanation_with_its_number(catalog):
    f = finding("KTO101", "info", ("logits-sum-metric", 0.95))
    f.causes[0].text = "logits/* is a sum over 1,024 x 152,064 logits per sequence: mean |logit| >= 1.30"
    (d,) = diagnose([f], catalog)
    assert d.kind == "explanation" and d.detail.endswith("mean |logit| >= 1.30")


def test_an_info_finding_whose_only_reading_is_overruled_leaves_the_report(catalog):
    # SFT105's "the staircase is expected" against SFT103's overfitting: the evidence for overfitting wins,
    # and a finding that would still say "not a problem" goes.
    stair = finding("SFT105", "info", ("epoch-memorisation", 0.8))
    over = finding("SFT103", "warning", ("overfitting", 0.7))
    findings = [over, stair]
    diag = diagnose(findings, catalog)
    assert [f.rule for f in findings] == ["SFT103"]
    assert [d.cause for d in diag] == ["overfitting"] and diag[0].overrules[0]["cause"] == "epoch-memorisation"


def test_a_warning_whose_strongest_reading_is_not_a_problem_cannot_set_the_status(catalog):
    # A rule that fires as a warning but whose best explanation is benign (a fp16 loss-scale calibration,
    # here) is listed under "Not a problem": it must not also make the report say WARNING.
    from kto_doctor.diagnosis import order_findings
    from kto_doctor.model import Report

    benign = finding("FP16101", "warning", ("loss-scale-calibration", 0.7), ("mixed-precision-overflow", 0.4))
    real = finding("LOSS101", "warning", ("lr-too-high", 0.6))
    diag = diagnose([benign], catalog)
    assert benign.severity == "info" and benign.evidence["severity_as_fired"] == "warning"
    assert "not a problem" in benign.message
    assert [(d.cause, d.kind) for d in diag] == [("loss-scale-calibration", "explanation")]
    assert Report(run=None, findings=[benign], diagnosis=diag, skipped=[]).status == "healthy"
    # A problem reading on top keeps the severity, and the order puts the real problem first.
    findings = [benign := finding("FP16101", "warning", ("loss-scale-calibration", 0.7)), real]
    diagnose(findings, catalog)
    assert real.severity == "warning" and [f.rule for f in order_findings(findings)] == ["LOSS101", "FP16101"]
