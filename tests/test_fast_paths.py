"""Fast paths give the answers of the slow ones they replace (issue 11 §4: speed without changing a finding)."""
from __future__ import annotations

import random

import numpy as np
import pytest

from kto_doctor.engine.evaluate import streaks


def _streaks_row_by_row(vals, steps, tolerance, for_rows, for_steps):
    """The engine's former loop, one row at a time: the reference the whole-array version must match."""
    fired = np.zeros(len(vals), dtype=bool)
    i, n = 0, len(vals)
    while i < n:
        if not vals[i]:
            i += 1
            continue
        start, last_true, gap = i, i, 0
        j = i + 1
        while j < n:
            if vals[j]:
                last_true, gap = j, 0
            else:
                gap += 1
                if gap > tolerance:
                    break
            j += 1
        if last_true - start + 1 >= for_rows and float(steps[last_true]) - float(steps[start]) >= for_steps:
            fired[start:last_true + 1] = True
        i = last_true + 1
    return fired


def test_streaks_match_the_row_by_row_definition():
    rng = random.Random(7)
    for case in range(3000):
        n = rng.randint(0, 60)
        density = rng.random()
        vals = np.array([rng.random() < density for _ in range(n)], dtype=bool)
        steps = np.cumsum([rng.choice((1, 1, 2, 5, 10)) for _ in range(n)]).astype(np.int64)
        tolerance, for_rows, for_steps = rng.randint(0, 4), rng.randint(1, 8), rng.choice((0, 0, 3, 20, 50))
        got = streaks(vals, steps, tolerance, for_rows, for_steps)
        want = _streaks_row_by_row(vals, steps, tolerance, for_rows, for_steps)
        assert got.tolist() == want.tolist(), (case, vals.tolist(), tolerance, for_rows, for_steps)


@pytest.mark.parametrize("vals,tolerance,for_rows,want", [
    ([1, 1, 0, 1, 1], 0, 3, [0, 0, 0, 0, 0]),  # a false row breaks both halves below 3 rows
    ([1, 1, 0, 1, 1], 1, 3, [1, 1, 1, 1, 1]),  # one broken row tolerated: one 5-row streak
    ([1, 0, 0, 1], 1, 2, [0, 0, 0, 0]),  # two broken rows end it
    ([0, 1, 1, 1, 0], 0, 3, [0, 1, 1, 1, 0]),
])
def test_streaks_examples(vals, tolerance, for_rows, want):
    steps = np.arange(len(vals)) * 10
    assert streaks(np.array(vals, dtype=bool), steps, tolerance, for_rows, 0).astype(int).tolist() == want


# ------------------------------------------------------------------------ trainer_state: decoder and columns

def _state_rows(rng: random.Random, n: int, apart: bool) -> list:
    """log_history rows of several shapes, with the values that must not take the one-array path: nulls,
    numeric and other text, bools, huge integers, NaN, and a step counter that restarts (a resumed run).
    `apart`: the odd rows have a key of their own (a group of their own) instead of sharing the train rows'
    key set."""
    rows = []
    for s in range(1, n + 1):
        step = s if s <= n * 2 // 3 else s - n // 3  # resumed at two thirds
        rows.append({"epoch": s / n, "grad_norm": 1 + rng.random(), "learning_rate": 1e-5, "loss": rng.random(),
                     "step": step})
        if s % 10 == 0:
            rows.append({"epoch": s / n, "eval_loss": rng.random(), "eval_runtime": 3.0, "step": step})
    odd = [{"loss": None}, {"loss": "0.25"}, {"loss": "0:01:03"}, {"grad_norm": True}, {"loss": 10 ** 30},
           {"loss": 10 ** 400}, {"step": True}, {"step": "7"}, {"step": 2 ** 60}, {"loss": [1.0]}]
    for i, patch in enumerate(odd):
        at = (i + 1) * len(rows) // (len(odd) + 2)
        rows[at] = {**rows[at], **patch, **({"kl": 0.5} if apart else {})}
    return rows


def _read(path, monkeypatch, fast_json: bool, table: bool):
    from kto_doctor.sources import fastjson, trainer_state

    monkeypatch.setenv("KTO_DOCTOR_NO_MSGSPEC", "" if fast_json else "1")
    monkeypatch.setattr(fastjson, "FAST_FROM", 0)  # the test files are small
    fastjson.reset()
    if not table:
        monkeypatch.setattr(trainer_state, "_as_table", lambda rows, keys: None)
    try:
        src = trainer_state.read(path)
    finally:
        monkeypatch.undo()
        fastjson.reset()
    return src


def _same(a, b):
    assert a.facts == b.facts and a.warnings == b.warnings and a.records == b.records and a.segments == b.segments
    assert sorted(a.series) == sorted(b.series)
    for name in a.series:
        for field in ("steps", "values", "lines"):
            x, y = getattr(a.series[name], field), getattr(b.series[name], field)
            assert x.dtype == y.dtype and np.array_equal(x, y, equal_nan=True), (name, field)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_nan", [False, True])
def test_trainer_state_reads_the_same_on_every_path(tmp_path, monkeypatch, seed, with_nan):
    """The per-key path with the standard library's decoder is the reference: the one-array path and
    msgspec (where installed) give the same series, facts, warnings and segments."""
    import json

    rows = _state_rows(random.Random(seed), 300, apart=seed % 2 == 0)
    if with_nan:  # json.dumps writes NaN, which msgspec refuses: the standard library reads the file
        rows[5]["loss"] = float("nan")
    path = tmp_path / "trainer_state.json"
    path.write_text(json.dumps({"global_step": 300, "max_steps": 300, "log_history": rows}, indent=2))
    ref = _read(path, monkeypatch, fast_json=False, table=False)
    assert ref.segments and ref.warnings  # the case covers a resume and the ignored steps
    _same(ref, _read(path, monkeypatch, fast_json=False, table=True))
    try:
        import msgspec  # noqa: F401
    except ImportError:
        return
    _same(ref, _read(path, monkeypatch, fast_json=True, table=True))


def test_fast_json_falls_back_to_the_standard_library(monkeypatch):
    pytest.importorskip("msgspec")
    from kto_doctor.sources import fastjson

    monkeypatch.delenv("KTO_DOCTOR_NO_MSGSPEC", raising=False)
    monkeypatch.setattr(fastjson, "FAST_FROM", 0)
    fastjson.reset()
    for doc in (b'{"a": NaN, "b": Infinity}', b'{"a": 1e400}', b'{"a": "\\ud800"}', b'{"a": 1, "a": 2}',
                b'{"a": 123456789012345678901234567890}', b'[0.1, 5e-324, -0.0]'):
        got = fastjson.loads(doc)
        want = __import__("json").loads(doc)
        assert repr(got) == repr(want), doc
    with pytest.raises(ValueError):
        fastjson.loads(b'{"a": ')


# ------------------------------------------------------------------------------- source plugins' entry points

def test_entry_points_are_listed_as_importlib_metadata_lists_them(tmp_path, monkeypatch):
    """The registry reads entry_points.txt files itself (importlib.metadata is a slow import): same entries,
    same order, the first distribution of a name shadowing a later one, egg-info after dist-info."""
    import sys
    from importlib.metadata import entry_points

    from kto_doctor.sources.registry import plugin_specs

    def dist(folder, dirname, text):
        d = folder / dirname
        d.mkdir(parents=True)
        (d / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dirname.split('-')[0]}\nVersion: 1\n")
        if text is not None:
            (d / "entry_points.txt").write_text(text)

    first, second = tmp_path / "first", tmp_path / "second"
    dist(first, "Acme_Source-1.0.dist-info", "# comment\n[console_scripts]\nacme = acme:main\n\n"
         "[kto_doctor.sources]\nacme = acme_src:SOURCE\n  other =  acme_src.more:SOURCE  \n")
    dist(first, "legacy.egg-info", "[kto_doctor.sources]\nlegacy = legacy_src:SOURCE\n")
    dist(first, "no_entry_points-2.0.dist-info", None)
    dist(second, "acme.source-0.9.dist-info", "[kto_doctor.sources]\nshadowed = old_acme:SOURCE\n")
    dist(second, "zeta-1.0.dist-info", "[kto_doctor.sources]\nzeta = zeta_src:SOURCE\n")
    monkeypatch.setattr(sys, "path", [str(first), str(second), *sys.path])
    for group in ("kto_doctor.sources", "console_scripts"):
        want = [(ep.name, ep.value) for ep in entry_points(group=group)]
        assert plugin_specs(group) == want
    got = dict(plugin_specs())
    assert got["acme"] == "acme_src:SOURCE" and got["other"] == "acme_src.more:SOURCE" and "shadowed" not in got
    assert {"legacy", "zeta", "trainer_state"} <= set(got)


def test_a_small_run_imports_neither_importlib_metadata_nor_crc32c():
    """Start-up cost that only event files or third-party plugins need stays out of other runs."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys; from kto_doctor.cli import main; sys.argv[1:] = ['analyze', sys.argv[1], '--format', "
            "'json']\ntry:\n    main()\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('importlib.metadata', 'crc32c') if m in sys.modules), file=sys.stderr)")
    sample = Path(__file__).resolve().parents[1] / "sample_logs" / "kto-healthy"
    r = subprocess.run([sys.executable, "-c", code, str(sample)], capture_output=True, text=True, timeout=300)
    assert r.stderr.strip().splitlines()[-1] == "[]", r.stderr


# ------------------------------------------------------------------------------------- flat YAML configs

_SCALARS = ["", "~", "null", "Null", "NULL", "nULL", "true", "True", "TRUE", "tRUE", "yes", "No", "on", "OFF", "y",
            "n", "0", "-0", "+7", "12", "007", "09", "0x1F", "0o17", "0b101", "1_000", "1:30", "190:20:30",
            "1234567890123456789", "-12345678901234567890", "5.0e-6", "5e-6", "1.0E+3", "1.", ".5", "-.inf", ".nan",
            "+1.5", "3.14159", "1e10", "2024-01-02", "2024-01-02 10:00:00", "meta-llama/Meta-Llama-3-8B",
            "lora", "all", "a#b", "a #b", "it's", "x: y", "x:", "a:b", "http://h/p", "'quoted'", "'it''s'",
            '"double"', '"esc\\n"', "'a #b'", "[a, b]", "{a: 1}", "&anchor v", "*alias", "!!str 5", "|", ">",
            "- item", "-x", "?", "@at", "`tick`", "%p", "<<", "=", "x # comment", "# only a comment", "a,b",
            "a[0]", "caf\u00e9", "v\ttab", "  padded  "]
_KEYS = ["stage", "learning_rate", "model_name_or_path", "a.b", "x-y", "k/v", "on", "True", "null", "_private",
         "9lives", "two words", "dup"]


def _pyyaml(text):
    import yaml

    from kto_doctor.sources.config_file import _loader

    try:
        return ("ok", yaml.load(text, Loader=_loader()))
    except yaml.YAMLError:
        return ("error", None)


def test_flat_yaml_reads_what_pyyaml_reads():
    """Every document the flat reader accepts reads exactly as PyYAML's SafeLoader (with the reader's
    long-integer rule) reads it: values, their types, key order and duplicate keys."""
    from kto_doctor.sources.flatyaml import load

    rng = random.Random(11)
    accepted = 0
    docs = [f"{k}: {v}\n" for k in _KEYS for v in _SCALARS]
    for _ in range(3000):
        lines = []
        for _ in range(rng.randint(1, 8)):
            r = rng.random()
            if r < 0.1:
                lines.append(rng.choice(["", "# comment", "   # indented comment", "---", "  nested: 1", "- x"]))
            else:
                lines.append(f"{rng.choice(_KEYS)}:{rng.choice([' ', '  ', ''])}{rng.choice(_SCALARS)}"
                             + rng.choice(["", " ", " # note", "\r"]))
        docs.append("\n".join(lines) + rng.choice(["", "\n"]))
    for doc in docs:
        got = load(doc)
        if got is None:
            continue
        accepted += 1
        kind, want = _pyyaml(doc)
        assert kind == "ok" and repr(got) == repr(want), doc
    assert accepted > 300  # enough accepted documents, tricky values among them, to mean something


def test_flat_yaml_on_the_repository_configs():
    """Every YAML config in the samples and fixtures reads the same with or without PyYAML."""
    from pathlib import Path

    from kto_doctor.sources.flatyaml import load

    root = Path(__file__).resolve().parents[1]
    files = [p for d in ("sample_logs", "tests/fixtures") for p in (root / d).rglob("*.y*ml")]
    assert files
    flat = 0
    for p in files:
        text = p.read_bytes().decode("utf-8", errors="replace")
        got = load(text)
        if got is not None:
            flat += 1
            assert repr(got) == repr(_pyyaml(text)[1]), p
    assert flat  # LLaMA-Factory's configs are flat


# ------------------------------------------------------------------------ Columns.finish: one value per step


def _finish_by_sorting(s, v, ln):
    """The former way: sort by (step, line), keep the last value of each step."""
    order = np.lexsort((ln, s))
    s, v, ln = s[order], v[order], ln[order]
    last = np.append(s[1:] != s[:-1], True)
    return s[last], v[last], ln[last]


def test_columns_finish_keeps_the_last_value_of_each_step_without_sorting_what_is_in_order():
    from kto_doctor.sources.base import Columns

    rng = np.random.default_rng(11)
    for case in range(400):
        n = int(rng.integers(2, 60))
        s = np.cumsum(rng.choice([0, 0, 1, 2], size=n)).astype(np.float64)  # rising, with repeated steps
        ln = np.cumsum(rng.choice([0, 1, 1], size=n)).astype(np.int64)  # redraws share a line
        if case % 4 == 1:
            s[rng.integers(n)] = np.nan
        elif case % 4 == 2:
            s = rng.permutation(s)  # out of order: the sort decides
        elif case % 4 == 3:
            ln = rng.permutation(ln)
        v = rng.random(n)
        got = Columns().finish(s.copy(), v.copy(), ln.copy())
        want = _finish_by_sorting(s, v, ln)
        for g, w in zip((got.steps, got.values, got.lines), want):
            np.testing.assert_array_equal(g, w)
