"""Every built-in rule's own test cases, one pytest case each, and the minimum every built-in rule owes."""
from __future__ import annotations

import pytest

from kto_doctor.engine.rules import load_builtin
from kto_doctor.engine.testing import run_case

RULESET = load_builtin()
CASES = [(rule, case) for rule in RULESET.rules for case in rule.tests]


@pytest.mark.parametrize("rule,case", CASES, ids=[f"{r.id}:{c.get('name', '?')}" for r, c in CASES])
def test_builtin_rule_case(rule, case):
    res = run_case(rule, case, RULESET.catalog)
    if res.todo:
        pytest.xfail("todo: " + "; ".join(res.problems))
    assert res.ok, f"{rule.source}: {rule.id}: {res.name}\n" + "\n".join(res.problems)


@pytest.mark.parametrize("rule", RULESET.rules, ids=[r.id for r in RULESET.rules])
def test_builtin_rule_has_firing_and_silent_cases_and_a_doc(rule):
    assert rule.doc.strip(), f"{rule.id} has no doc"
    expects = [c.get("expect") or {} for c in rule.tests if isinstance(c, dict)]
    assert any(e.get("fires") is True and not e.get("todo") for e in expects), f"{rule.id}: no firing test case"
    assert any(e.get("fires") is False and not e.get("todo") for e in expects), f"{rule.id}: no silent test case"


def test_there_are_builtin_rules_and_cases():
    assert len(RULESET.rules) >= 18 and len(CASES) >= 2 * len(RULESET.rules)
