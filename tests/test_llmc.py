"""llm.c's `main.log` (`s:0 trl:11.0116 lr:0.000001 norm:14.96`, `s:0 tel:11.0095`, `s:250 eval:0.2437`): two real
files in tests/fixtures/formats/llmc (PROVENANCE.md), checked against a plain parse of their lines, and damage."""
from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import kto_doctor
from kto_doctor import sources
from kto_doctor.sources import llmc, textlog

FIX = Path(__file__).parent / "fixtures" / "formats" / "llmc"
GPT2 = FIX / "SiddanthEmani__GPT-2-124M-CUDA__log124M-main.log"
MEDIUM = FIX / "KellerJordan__modded-nanogpt__records-011825_GPT2Medium-main.log"


def _plain(path: Path, key: str) -> list[tuple[int, float]]:
    out = []
    for line in path.read_text().splitlines():
        fields = dict(f.split(":", 1) for f in line.split())
        if key in fields:
            out.append((int(fields["s"]), float(fields[key])))
    return out


def test_train_val_and_hellaswag_lines_become_loss_eval_loss_and_an_eval_metric():
    data = sources.read(GPT2)
    assert data.format == "llmc"
    for key, name in (("trl", "loss"), ("lr", "learning_rate"), ("norm", "grad_norm"), ("tel", "eval_loss"),
                      ("eval", "eval_hellaswag_accuracy")):
        want = _plain(GPT2, key)
        assert data.series[name].steps.tolist() == [s for s, _ in want], name
        assert data.series[name].values.tolist() == [v for _, v in want], name
    report = kto_doctor.analyze(GPT2)
    assert report.run.method == "pt" and report.status not in ("failing", "inconclusive")


def test_a_log_of_validation_losses_alone_is_judged_on_them():
    data = sources.read(MEDIUM)
    assert "loss" not in data.series
    assert data.series["eval_loss"].steps.tolist() == list(range(0, 60001, 250))
    assert data.series["eval_loss"].values[-1] == 2.9282
    assert kto_doctor.analyze(MEDIUM).status != "inconclusive"


def test_a_nan_train_loss_fails_the_run(tmp_path):
    p = tmp_path / "main.log"
    p.write_text("s:0 tel:11.0\n" + "".join(f"s:{i} trl:{10 - i * 0.01:.4f} lr:0.000100 norm:1.20\n" for i in range(40))
                 + "s:40 trl:nan lr:0.000100 norm:nan\ns:41 trl:nan lr:0.000100 norm:nan\n")
    data = sources.read(p)
    assert np.isnan(data.series["loss"].values[-2:]).all()
    assert kto_doctor.analyze(p).status == "failing"


def test_a_cut_last_line_keeps_every_line_before_it(tmp_path):
    text = GPT2.read_bytes()
    p = tmp_path / "main.log"
    p.write_bytes(text[: text.rindex(b"\n", 0, len(text) - 1) + 12])  # the last line cut inside its values
    whole = sources.read(GPT2).series["loss"]
    cut = sources.read(p)
    assert cut.series["loss"].steps.tolist() == whole.steps.tolist()[:-1]  # `trl:5` of the cut line is not 5.0
    assert cut.series["loss"].values.tolist() == whole.values.tolist()[:-1]
    assert any("cut short" in w for w in cut.warnings)


def _same(a, b):
    assert list(a.series) == list(b.series)
    for name in a.series:
        for attr in ("steps", "values", "lines"):
            x, y = getattr(a.series[name], attr), getattr(b.series[name], attr)
            assert np.asarray(x).dtype == np.asarray(y).dtype and np.asarray(x).tobytes() == np.asarray(y).tobytes(), \
                (name, attr)
    assert (a.warnings, a.facts, a.records, a.segments, a.hints, a.step_kind) == \
        (b.warnings, b.facts, b.records, b.segments, b.hints, b.step_kind)


def _log(rng, n: int, start: int = 0, narrow: bool = False) -> list[str]:
    """`narrow`: values of one width, as most of a real log's lines (most lines then share one byte layout)."""
    out = []
    for s in range(start, start + n):
        if s % 25 == 0:
            out += [f"s:{s} tel:{3 + rng.random():.4f}", f"s:{s} eval:{rng.random() / 2:.4f}"]
        trl, norm = (3 + rng.random(), rng.random() * 2) if narrow else (rng.uniform(-1, 12), rng.random() * 20)
        out.append(f"s:{s} trl:{trl:.4f} lr:{rng.random() * 6e-4:.6f} norm:{norm:.2f}")
    return out


# lines the numpy way must leave to textlog (the whole file is then textlog's): other value forms, other fields,
# other spacing
ODD_LINES = ["s:7 trl:nan lr:0.000100 norm:nan", "s:7 trl:inf lr:0.000100 norm:1.00", "s:7 trl:1e-05 lr:0.1 norm:1",
             "s:7 trl:-0 lr:+0.5 norm:.5", "s:7 trl:5. lr:0.000100 norm:1.00", "s:7 trl:1.5 lr:0.1",
             "s:7 trl:1.5 lr:0.1 norm:1.0 tps:1000", "s:7  trl:1.5 lr:0.1 norm:1.0", "s:7 trl:1.5 lr:0.1 norm:1.0 ",
             "s:7 tel:2.5 eval:0.3", "s:7 trl:1.5\tlr:0.1 norm:1.0", "s:7 trl:1.5 lr:0.1 norm:1.0\r", "",
             "step 7: loss 1.5", "s:-7 trl:1.5 lr:0.1 norm:1.0", "s:7 trl:12345678901234567890 lr:0.1 norm:1.0",
             "s:7 trl:1.5:2 lr:0.1 norm:1.0", "s:7 Trl:1.5 lr:0.1 norm:1.0", "s:7 trl:-1.25 lr:0.000100 norm:0.00",
             "s:007 trl:007 lr:-.5 norm:+.5", "s:7 trl:0.1234567890123456789 lr:1.0 norm:1.0"]


@pytest.mark.parametrize("piece", [1 << 12, 1 << 20])  # many pieces (most read field by field), one (by layout)
@pytest.mark.parametrize("odd", ODD_LINES)
def test_the_numpy_way_reads_what_textlog_reads(tmp_path, monkeypatch, odd, piece):
    rng = random.Random(len(odd))
    lines = _log(rng, 3000, narrow=piece > 1 << 12)
    lines.insert(1500, odd)
    p = tmp_path / "main.log"
    p.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(llmc, "PIECE", piece)
    _same(llmc.read(p), textlog.read(p, llmc.FORMAT))


def test_lines_of_one_layout_are_read_as_field_by_field(monkeypatch):
    """A piece whose lines mostly share one byte layout (steps of one width, values of one width, a negative value
    or a `+`): those as a byte matrix, the others field by field; the same as the field-by-field way alone."""
    rng = random.Random(9)
    taken = []
    real = llmc.bytematrix.layouts
    monkeypatch.setattr(llmc.bytematrix, "layouts", lambda *a: taken.append(real(*a)) or taken[-1])
    for model in ("s:{s} trl:{a:.4f} lr:{b:.6f} norm:{c:.2f}", "s:{s} trl:-{a:.4f} lr:+{b:.6f} norm:{c:.0f}.",
                  "s:{s} trl:.{d} lr:{b:.6f} norm:00{c:.2f}"):
        lines = []
        for s in range(10000, 30000):
            if s % 40 == 0:
                lines.append(f"s:{s} tel:{rng.random():.4f}")
            if s % 7 == 0:  # another layout
                lines.append(f"s:{s} trl:{rng.random() * 20:.3f} lr:{rng.random():.2f} norm:{rng.random():.3f}")
                continue
            lines.append(model.format(s=s, a=3 + rng.random(), b=rng.random() * 6e-4, c=rng.random() * 2,
                                      d=rng.randrange(1000, 9999)))
        buf = b"".join((llmc._PAD, ("\n".join(lines) + "\n").encode(), llmc._PAD))
        taken.clear()
        got, want = llmc._piece(buf), llmc._fields(buf)
        assert sum(len(rows) for model, rows in taken[0] if llmc._plan(model)) > 0.6 * got[1]  # (most by layout)
        assert got is not None and want is not None
        assert len(got[2][0]) == len(want[2][0]) > 15000
        assert got[1] == want[1] and got[0].tobytes() == want[0].tobytes()
        for x, y in zip(got[2] + tuple(got[3]), want[2] + tuple(want[3])):
            assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


@pytest.mark.parametrize("piece", [1 << 12, 1 << 20])
@pytest.mark.parametrize("case", ["plain", "restart", "repeats", "cut", "no_final_feed", "val_only", "one_line",
                                  "x", ".", " ", "-"])  # (the last four: a digit of one line replaced, same width)
def test_the_numpy_way_reads_whole_files_as_textlog_does(tmp_path, monkeypatch, case, piece):
    rng = random.Random(3)
    narrow = piece > 1 << 12
    lines = _log(rng, 4000, narrow=narrow)
    if case == "restart":
        lines = lines[:3000] + _log(rng, 2000, start=1000, narrow=narrow)
    elif case == "repeats":
        lines = lines[:2000] + lines[1990:]
    elif case == "val_only":
        lines = [ln for ln in lines if "trl:" not in ln]
    elif case == "one_line":
        lines = lines[:1]
    elif len(case) == 1:
        i = lines[2000].index("trl:") + 6
        lines[2000] = lines[2000][:i] + case + lines[2000][i + 1:]
    text = "\n".join(lines) + "\n"
    if case == "cut":
        text = text[:-9]
    elif case == "no_final_feed":
        text = text[:-1]
    p = tmp_path / "main.log"
    p.write_text(text)
    monkeypatch.setattr(llmc, "PIECE", piece)
    taken = []
    real = llmc._fast
    monkeypatch.setattr(llmc, "_fast", lambda path: taken.append(real(path)) or taken[-1])
    _same(llmc.read(p), textlog.read(p, llmc.FORMAT))
    assert (taken[0] is not None) == (case in ("plain", "restart", "repeats", "val_only", "one_line"))


def _bench_log(path: Path, n: int) -> None:
    """The benchmark's generated main.log (`benchmarks/bench_text_readers.py`), n steps."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "bench_text_readers", Path(__file__).resolve().parents[1] / "benchmarks" / "bench_text_readers.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    r = bench.Pool(1)
    path.write_text("".join(bench.gen_llmc(r, i) for i in range(1, n + 1)))


@pytest.mark.parametrize("piece", [1 << 12, 1 << 14, 1 << 20])
@pytest.mark.parametrize("name", ["bench", "bench-late", GPT2.name, MEDIUM.name])
def test_the_fixtures_and_the_benchmarks_log_are_read_by_layout_as_textlog_reads_them(tmp_path, monkeypatch, name,
                                                                                    piece):
    """Every fixture of the format and the benchmark's log (from step 0, and from step 99,000 on, where the step's
    width changes), pieces of several sizes: the numpy way (most lines by their byte layout) reads what textlog
    reads."""
    p = FIX / name
    if name.startswith("bench"):
        p = tmp_path / "main.log"
        _bench_log(p, 8000)
        if name == "bench-late":
            p.write_text(p.read_text().replace("s:", "s:9") + "".join(f"s:{100000 + i} trl:3.1234 lr:0.000100 "
                                                                           f"norm:1.{i % 90 + 10}\n" for i in range(3000)))
    monkeypatch.setattr(llmc, "PIECE", piece)
    taken = []
    real = llmc.bytematrix.layouts
    monkeypatch.setattr(llmc.bytematrix, "layouts", lambda *a, **kw: taken.append(real(*a, **kw)) or taken[-1])
    got = llmc.read(p)
    by_layout = sum(len(rows) for groups in taken for model, rows in groups if llmc._plan(model))
    _same(got, textlog.read(p, llmc.FORMAT))
    assert got.format == "llmc" and got.records > 200
    if piece > 1 << 12:  # (a piece below 4 KB is read field by field)
        assert by_layout > got.records // 2
