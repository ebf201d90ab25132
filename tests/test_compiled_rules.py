"""The built-in rules in compiled form (kto_doctor/engine/compiled.py) are the same rules as the YAML.

The wheel ships the compiled form so that a start does not re-compile the rule files; these tests pin
that loading it gives exactly what compiling the YAML gives, that a stale or foreign file is refused,
and that reports do not change.
"""
from __future__ import annotations

import ast
import dataclasses
import json
import shutil
import subprocess
import sys
import zlib

import pytest

from kto_doctor.analysis import analyze
from kto_doctor.engine import compiled, rules as R
from kto_doctor.engine.expr import Compiled

from conftest import SAMPLES


def _same(a, b, path="ruleset"):
    """Deep equality with types: tuples stay tuples, sets stay sets, expression trees parse alike."""
    lazy = {compiled.LazyCompiled: Compiled, compiled.LazyRule: R.Rule}  # lazy forms of the same classes
    assert lazy.get(type(b), type(b)) is type(a), f"{path}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, Compiled):
        for f in dataclasses.fields(Compiled):
            if f.name == "tree":
                assert ast.dump(a.tree) == ast.dump(b.tree), path
            else:
                _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif dataclasses.is_dataclass(a):
        for f in dataclasses.fields(a):
            _same(getattr(a, f.name), getattr(b, f.name), f"{path}.{f.name}")
    elif isinstance(a, dict):
        assert list(a) == list(b), path
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and a != a:
        assert b != b, path
    else:
        assert a == b, path


@pytest.fixture()
def rules_copy(tmp_path):
    """A copy of the built-in rules folder and its compiled form."""
    folder = tmp_path / "rules"
    shutil.copytree(R.builtin_rules_dir(), folder)
    target = compiled.write(tmp_path / compiled.FILENAME, folder)
    return folder, target


def test_compiled_form_is_the_yaml_compiled(rules_copy):
    folder, target = rules_copy
    fresh = R.load_paths([folder], builtin=True)
    loaded = compiled.load(target, folder)
    assert loaded is not None
    _same(fresh, loaded)
    assert len(loaded.rules) == len(fresh.rules) > 40
    # a rule's tests are its raw `tests:` list, as when compiled from YAML
    assert all(r.tests is r.raw.get("tests") for r in loaded.rules if r.raw.get("tests") is not None)
    # positions point at the files of the folder it is loaded from
    assert all(r.source.startswith(str(folder)) and r.pos.file == r.source for r in loaded.rules)


def test_expression_trees_are_parsed_only_when_asked_for(rules_copy):
    folder, target = rules_copy
    rule = compiled.load(target, folder).rules[0]
    assert "_tree" not in rule.when.__dict__
    assert isinstance(rule.when.tree, ast.Expression)
    assert "_tree" in rule.when.__dict__
    # an analysis evaluates the stored lowered form: none of the expressions it evaluated was parsed
    ruleset = compiled.load(target, folder)
    report = analyze(SAMPLES / "kto-flagship", rules=ruleset)
    assert report.findings and len(report.passed) > 10
    evaluated = [r for r in ruleset.rules if "_line" not in r.__dict__]
    exprs = [e for r in evaluated for e in [r.when, r.applies_if, *(c for _, c in r.lets)] if e is not None]
    assert len(exprs) > 50 and all(isinstance(e, compiled.LazyCompiled) and "_tree" not in e.__dict__
                                   for e in exprs)


def test_a_rule_is_decoded_only_when_read_beyond_its_selection_fields(rules_copy):
    folder, target = rules_copy
    rules = compiled.load(target, folder).rules
    assert all("_line" in r.__dict__ for r in rules)
    assert [r.id for r in R.select(rules, ["kto"])]  # selecting reads the light fields only
    assert all("_line" in r.__dict__ for r in rules)
    assert rules[-1].when.source and rules[-1].causes is not None  # the evaluation's fields: its first line
    assert "_line" not in rules[-1].__dict__ and all("_line" in r.__dict__ for r in rules[:-1])
    assert all("_yaml_line" in r.__dict__ for r in rules)  # its YAML mapping and tests: not yet
    assert rules[-2].raw["id"] == rules[-2].id and rules[-2].tests is rules[-2].raw.get("tests")
    assert "_yaml_line" not in rules[-2].__dict__ and "_line" in rules[-2].__dict__


def test_an_analysis_decodes_only_the_rules_it_evaluates(rules_copy):
    folder, target = rules_copy
    ruleset = compiled.load(target, folder)
    report = analyze(SAMPLES / "kto-healthy", rules=ruleset)
    decoded = {r.id for r in ruleset.rules if "_line" not in r.__dict__}
    needs_other = {s.rule for s in report.skipped if s.reason.startswith(("applies to", "needs "))}
    assert needs_other and not decoded & needs_other  # a rule skipped for its method or metrics stays undecoded
    assert set(report.passed) <= decoded
    assert all("_yaml_line" in r.__dict__ for r in ruleset.rules)  # no evaluation reads the YAML mapping


def test_lazy_rules_copy_and_pickle_whole(rules_copy):
    import copy
    import pickle

    folder, target = rules_copy
    rule = compiled.load(target, folder).rules[0]
    for other in (copy.deepcopy(rule), pickle.loads(pickle.dumps(rule)),
                  dataclasses.replace(rule, params=dict(rule.params))):
        assert other.raw == rule.raw and other.tests == rule.tests and other.id == rule.id
        assert ast.dump(other.when.tree) == ast.dump(rule.when.tree)


def test_an_edited_rule_file_makes_the_compiled_form_stale(rules_copy):
    folder, target = rules_copy
    some_rule = R.rule_files(folder)[0]
    some_rule.write_text(some_rule.read_text(encoding="utf-8").replace("severity: warning", "severity: error")
                         + "\n", encoding="utf-8")
    assert compiled.load(target, folder) is None


def test_the_fingerprint_covers_the_compiling_code(rules_copy):
    folder, _ = rules_copy
    fp = compiled.fingerprint(folder)
    for code in ("engine/rules.py", "engine/expr.py", "engine/template.py", "engine/compiled.py"):
        assert f"code:{code} " in fp


@pytest.mark.parametrize("body", [
    '{"__t": "os.system", "v": "echo hacked"}',
    '{"__t": "Rule", "id": "X1"}',
    '[1, 2',
    '{"rules": []}',
])
def test_a_foreign_or_damaged_file_is_refused(rules_copy, body):
    folder, target = rules_copy
    head = json.loads(target.read_text(encoding="utf-8").partition("\n")[0])
    data = body + "\n[]\n"
    head["crc"] = zlib.crc32(data.encode())  # a well-formed file of another content: the decoder refuses it
    target.write_text(json.dumps(head) + "\n" + data, encoding="utf-8")
    assert compiled.load(target, folder) is None


def test_a_flipped_byte_is_refused(rules_copy):
    folder, target = rules_copy
    data = bytearray(target.read_bytes())
    at = len(data) - 1000  # in the details line, which is decoded only when used
    data[at] ^= 0x01
    target.write_bytes(bytes(data))
    assert compiled.load(target, folder) is None


def test_load_builtin_uses_an_up_to_date_compiled_form(tmp_path, monkeypatch):
    target = compiled.write(tmp_path / compiled.FILENAME)
    monkeypatch.setattr(compiled, "compiled_path", lambda: target)
    rs = R.load_builtin()
    assert all(isinstance(r.when, compiled.LazyCompiled) for r in rs.rules)
    monkeypatch.setattr(compiled, "compiled_path", lambda: tmp_path / "missing.json")
    assert not any(isinstance(r.when, compiled.LazyCompiled) for r in R.load_builtin().rules)


def test_a_stale_compiled_form_is_neither_used_nor_rewritten(rules_copy, monkeypatch):
    folder, target = rules_copy
    rule_file = R.rule_files(folder)[0]
    rule_file.write_text(rule_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    before, listing = target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    monkeypatch.setattr(compiled, "compiled_path", lambda: target)
    monkeypatch.setattr(R, "builtin_rules_dir", lambda: folder)
    rules = R.load_builtin().rules
    assert rules and not any(isinstance(r, compiled.LazyRule) for r in rules)  # compiled from the YAML
    assert target.read_bytes() == before and sorted(p.name for p in target.parent.iterdir()) == listing


def test_loading_the_compiled_form_does_not_import_yaml(rules_copy):
    folder, target = rules_copy
    code = ("import sys\n"
            "from kto_doctor.engine import compiled\n"
            f"rs = compiled.load(__import__('pathlib').Path({str(target)!r}), __import__('pathlib').Path({str(folder)!r}))\n"
            "assert rs is not None\n"
            "print('yaml' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"  # PyYAML is needed only for user rules and YAML configs


@pytest.mark.parametrize("sample", ["kto-healthy", "kto-flagship", "lf-kto-lr-too-high", "lf-dpo-no-learning", "lf-sft-overfit"])
def test_reports_are_the_same_with_either_form(tmp_path, sample):
    if not (SAMPLES / sample).is_dir():
        pytest.skip(f"no sample {sample}")  # pragma: no cover
    folder = tmp_path / "rules"
    shutil.copytree(R.builtin_rules_dir(), folder)
    target = compiled.write(tmp_path / compiled.FILENAME, folder)
    from_yaml = analyze(SAMPLES / sample, rules=R.load_paths([folder], builtin=True))
    from_json = analyze(SAMPLES / sample, rules=compiled.load(target, folder))
    if sample != "kto-healthy":
        assert from_json.findings  # rules fired: titles, messages, evidence and causes were rendered
    assert json.dumps(from_yaml.to_dict(), sort_keys=True, default=str) == \
        json.dumps(from_json.to_dict(), sort_keys=True, default=str)
