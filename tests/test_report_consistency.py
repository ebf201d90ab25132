"""Every report kto-doctor writes on real and sample logs is consistent: no two contradicting causes, no
finding both a problem and "not a problem", no sentence with an unfilled n/a."""
from __future__ import annotations

import pytest

from conftest import CORPUS, SAMPLES, needs_corpus
from kto_doctor.analysis import analyze, load_rules
from kto_doctor.diagnosis import exclusions


@pytest.fixture(scope="module")
def ruleset():
    return load_rules()


def check_report(report, ruleset):
    ex = exclusions(ruleset.catalog)
    causes = {d.cause for d in report.diagnosis}
    for c in causes:
        clash = ex.get(c, set()) & causes
        assert not clash, f"{report.run.path}: {c} and {clash} in one diagnosis"
    by_kind = {}
    for d in report.diagnosis:
        for rule in d.findings:
            by_kind.setdefault(rule, set()).add(d.kind)
    both = [r for r, kinds in by_kind.items() if len(kinds) > 1]
    assert not both, f"{report.run.path}: {both} both a problem and not a problem"
    for f in report.findings:
        for c in f.causes:
            assert not (ex.get(c.id, set()) & causes - {c.id}), f"{f.rule} keeps a cause the diagnosis overruled"
        text = " ".join([f.title, f.message] + [c.text for c in f.causes] + [x for c in f.causes for x in c.fixes])
        assert "n/a" not in text, f"{report.run.path}: {f.rule} prints n/a: {text[:300]}"


def _samples():
    return sorted(p for p in SAMPLES.iterdir() if p.is_dir())


@pytest.mark.parametrize("path", _samples(), ids=lambda p: p.name)
def test_sample_reports_are_consistent(path, ruleset):
    check_report(analyze(path, rules=ruleset), ruleset)


@needs_corpus
def test_corpus_reports_are_consistent(ruleset):
    items = [p for sub in ("trainer_state", "stdout", "runs") for p in sorted((CORPUS / sub).iterdir())]
    assert len(items) >= 50
    for p in items:
        check_report(analyze(p, rules=ruleset), ruleset)
