"""docs/accuracy.md is what scripts/accuracy.py produces from the code: the accuracy the README quotes is
computed, not written by hand. The dev-set fixtures part always runs; the shared-corpus part where ../shared is."""
from __future__ import annotations

import importlib.util
import sys

import pytest

from conftest import CORPUS, REPO, needs_corpus

spec = importlib.util.spec_from_file_location("accuracy", REPO / "scripts" / "accuracy.py")
accuracy = importlib.util.module_from_spec(spec)
sys.modules["accuracy"] = accuracy  # its dataclasses look their module up
spec.loader.exec_module(accuracy)


@pytest.fixture(scope="module")
def committed():
    return accuracy.committed_sections((REPO / "docs" / "accuracy.md").read_text(encoding="utf-8"))


def test_the_fixture_figures_are_what_the_code_produces(committed):
    fresh = accuracy.score_set("fixtures", accuracy.BUILTIN_SETS["fixtures"])
    assert fresh == committed["fixtures"], "docs/accuracy.md is out of date: python scripts/accuracy.py --write"


@needs_corpus
def test_the_corpus_figures_are_what_the_code_produces(committed):
    fresh = accuracy.score_set("corpus", CORPUS)
    assert fresh == committed["corpus"], "docs/accuracy.md is out of date: python scripts/accuracy.py --write"


def test_the_page_is_the_header_and_the_sections(committed):
    text = (REPO / "docs" / "accuracy.md").read_text(encoding="utf-8")
    assert text == accuracy.render(committed)
    assert "in-sample" in text and "never tuned on" in text


def test_scoring_rules_on_known_cases():
    item = accuracy.Item("x", REPO, "nan", [], "high", False)
    item.findings = [{"rule": "SCHED102", "symptom": "lr-schedule", "severity": "warning"},
                     {"rule": "NUM101", "symptom": "nan-inf", "severity": "error"}]
    assert accuracy.lenient(item) and not accuracy.strict(item)  # found, but not what the report leads with
    item.findings.reverse()
    assert accuracy.strict(item) and accuracy.leading(item) == "nan"
    fine = accuracy.Item("y", REPO, "expected-behaviour", [], "high", False)
    fine.findings = [{"rule": "GRPO110", "symptom": "other", "severity": "info"}]
    assert accuracy.lenient(fine) and not accuracy.strict(fine)  # nothing said under "Not a problem"
    fine.explained = True
    assert accuracy.strict(fine)
    fine.findings.append({"rule": "NUM101", "symptom": "nan-inf", "severity": "error"})
    assert not accuracy.lenient(fine)  # an error on a fine run fails the gate: a false alarm


def test_the_readme_quotes_the_computed_figures(committed):
    """The README's accuracy table carries the numbers of docs/accuracy.md, not older ones."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for name, rows in (("fixtures", ("never tuned on", "all items")), ("corpus", ("all items",))):
        if name not in committed:
            continue
        for row in rows:
            m = re.search(rf"\| {row} \| (\d+) \| ([^|]+) \| ([^|]+) \|", committed[name])
            assert m, (name, row)
            assert m.group(2).strip() in readme and m.group(3).strip() in readme, (name, row, m.groups())
