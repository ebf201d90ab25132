"""textlog's byte-matrix split (`layoutsplit`) reads what the shape's regex split reads.

Every frame is read twice: with the byte matrices taking every layout of two units or more (`MIN_ROWS` = 2, so
that small files take that way too), and with them off (`Reader.matrix` answers None: the regex split of
every chunk, as before); series, steps, values, lines, warnings, facts, hints, records, segments and errors must
be the same. Cases: the streamed cases (tqdm redraws, `\\r`, restarts, NaN and odd values, cut and damaged
tails, CRLF, wrapped records) at 4 KB, 32 KB and 8 MB chunks, the real fixtures of every text reader, and
generated layouts of every number form.
"""
from __future__ import annotations

import random
import re
from pathlib import Path

import numpy as np
import pytest
from test_linefast import _VARIANTS as _LINE_VARIANTS, _nanogpt
from test_textlog_stream import CASES, _frame

from kto_doctor.sources import (build_nanogpt, deepspeed_chat, deepspeed_chat_sft_rm, generic_kv, layoutsplit,
                                llama_recipes, llmc, megatron, mmengine, progress_bar, step_value, textlog,
                                torchtune, verl_console)

READERS = (build_nanogpt, deepspeed_chat, deepspeed_chat_sft_rm, generic_kv, llama_recipes, llmc, megatron,
           mmengine, progress_bar, step_value, torchtune, verl_console)
FIXTURES = Path(__file__).parent / "fixtures"


def _both(path: Path, fmt, monkeypatch) -> tuple:
    """(the frame with the byte matrices, the records they took, the frame without them)."""
    taken = []
    take = layoutsplit.take

    def counting(*args, **kwargs):
        got = take(*args, **kwargs)
        taken.append(0 if got is None else len(got[0]))
        return got

    with monkeypatch.context() as m:
        m.setattr(layoutsplit, "MIN_ROWS", 2)
        m.setattr(layoutsplit, "take", counting)
        fast, _ = _frame(path, fmt, True)
    with monkeypatch.context() as m:
        m.setattr(textlog.Reader, "matrix", lambda self, shape, text, line_base: None)
        slow, _ = _frame(path, fmt, True)
    return fast, sum(taken), slow


@pytest.mark.parametrize("chunk", [1 << 12, 1 << 15, textlog.CHUNK])
@pytest.mark.parametrize("case", sorted(CASES))
def test_matrix_reads_the_split(case, chunk, tmp_path, monkeypatch):
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    text, fmt, _ = CASES[case]
    path = tmp_path / "train.log"
    path.write_bytes(text.encode())
    fast, taken, slow = _both(path, fmt.FORMAT, monkeypatch)
    assert fast == slow
    if case in _LAID_OUT and chunk == 1 << 15:  # (one chunk of a small file: no shape learned before it)
        assert taken > 0  # (the test saw that way: these logs repeat one line layout)


# (a bar redrawn with `\r` and no line feed until its end is one long line: its shape's `[^|\n]*` may run over a
# redraw, so `take` would have its lines as units, no two alike; its redraws are read by `take_redraws` instead,
# tested below)
_LAID_OUT = {"bar_nemo", "bar_nemo_cut", "mm", "mm_cut", "mm_nolf", "mm_restart", "mg", "mg_cut", "mg_restart",
             "mg_vanished"}


def _fixture_jobs():
    jobs = []
    for path in sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.stat().st_size < 2 << 20):
        head = path.read_bytes()[:1 << 16].decode("utf-8", "replace")
        for mod in READERS:
            if mod.SOURCE.sniff is not None and mod.SOURCE.sniff(head) > 0:
                jobs.append(pytest.param(path, mod, id=f"{mod.__name__.rsplit('.', 1)[1]}:{path.name}"))
    return jobs


@pytest.mark.parametrize("path,mod", _fixture_jobs())
def test_matrix_reads_the_split_on_fixtures(path, mod, tmp_path, monkeypatch):
    for name, body in (("as_is", path.read_bytes()), ("cut", path.read_bytes()[:path.stat().st_size * 2 // 3])):
        p = tmp_path / f"{name}{path.suffix}"
        p.write_bytes(body)
        fast, _, slow = _both(p, mod.FORMAT, monkeypatch)
        assert fast == slow, name


def test_tqdm_redraws_of_one_line_are_read_in_file_order(tmp_path, monkeypatch):
    """Two draws of one position on one line, the later with another loss: the later value is the step's (the
    matrix's records are placed in the file's order, not by line alone), and a garbled draw between them is
    read by the split."""
    monkeypatch.setattr(textlog, "CHUNK", 1 << 14)
    r = random.Random(3)
    lines = []
    for i in range(1, 400):
        a, b = (f"Epoch 0:  50%|##   | {i}/800 [00:01<00:02, 4.47s/it, loss={r.random():.3f}, v_num=3]"
                for _ in range(2))
        mid = "\rEpoch 0:  50%|##   | x/800 [oops" if i % 50 == 0 else ""
        lines.append("\r" + a + mid + "\r" + b)
    path = tmp_path / "bar.log"
    path.write_text("\n".join(lines) + "\n")
    fast, taken, slow = _both(path, progress_bar.FORMAT, monkeypatch)
    assert fast == slow and taken > 0
    loss = dict(fast[0])["loss"]
    assert loss[1][:3] == [repr(float(re.findall(r"loss=([\d.]+)", lines[i])[1])) for i in range(3)]


def _iter_line(r: random.Random, i: int, prefixed: bool) -> str:
    line = f"iter {i}: loss {3 + r.random():.4f}, time {1000 + r.random() * 100:.2f}ms, mfu {15 + r.random():.2f}%\n"
    if i % 97 == 0:
        line = line.replace(f"{3:d}.", "nan", 1) if i % 2 else line.replace("loss ", "loss 1e-0", 1)
    return (f"2026-12-02 10:{i % 60:02d}:00 | " + line) if prefixed else line


@pytest.mark.parametrize("chunk", [1 << 12, 1 << 15])
@pytest.mark.parametrize("prefixed", ["none", "all", "every_7th", "after_half"])
def test_generic_lines_read_by_the_matrices_before_the_templates(prefixed, chunk, tmp_path, monkeypatch):
    """The generic reader's `[Ii]ter` shape has `linefast` templates, which drop a record's line prefix with it;
    the byte matrices, tried first (`Reader.first`), are kept only where every record starts its line. With
    prefixes on every line, on some, and from the middle of the file on, the frame is the templates' one."""
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    r = random.Random(5)
    n = 4000
    pre = {"none": lambda i: False, "all": lambda i: True, "every_7th": lambda i: i % 7 == 0,
           "after_half": lambda i: i > n // 2}[prefixed]
    text = "".join(_iter_line(r, i, pre(i)) for i in range(1, n))
    path = tmp_path / "train.log"
    path.write_text("saving checkpoint\n" + text + f"step {n}: train loss 3.1, val loss 3.2\n")
    fast, taken, slow = _both(path, generic_kv.FORMAT, monkeypatch)
    assert fast == slow
    assert len(dict(fast[0])["loss"][0]) > n * 0.98  # (a damaged value, one line in 97, drops its record)
    if prefixed in ("none", "after_half"):
        assert taken > 0  # (the matrices read the lines without a prefix)


@pytest.mark.parametrize("chunk", [1 << 15, textlog.CHUNK])
@pytest.mark.parametrize("variant", sorted(_LINE_VARIANTS))
def test_generic_variants_read_by_the_matrices_as_by_the_templates(variant, chunk, tmp_path, monkeypatch):
    """The templates' own test logs (tests/test_linefast.py: odd values, prefixes on some lines, padding, `Iter` and
    `iteration`, mark bytes, NUL bytes, lines between, a cut last record): the same frame either way."""
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    rng = np.random.default_rng(3)
    lines = [_LINE_VARIANTS[variant](i, s) for i, s in enumerate(_nanogpt(rng, 9000))]
    path = tmp_path / "train.log"
    path.write_text("\n".join(lines)[:-7])
    fast, taken, slow = _both(path, generic_kv.FORMAT, monkeypatch)
    assert fast == slow
    assert taken > 0 or variant == "blank and mark lines"  # (a chunk holding a mark byte is read the old way)


_FORMS = ("{:.4f}", "{:.6E}", "{:.4e}", "{:.3g}", "{:d}", "{:+.2f}", "{:.1e}", "{:.12f}", "{:.15f}", "{:.16f}",
          "{:08.3f}", "{!r}")


def _value(r: random.Random, form: str) -> str:
    if form == "{:d}":
        return form.format(r.randrange(-10 ** 6, 10 ** 12))
    x = (r.random() - 0.3) * 10 ** r.randrange(-12, 12)
    return form.format(x)


@pytest.mark.parametrize("form", _FORMS)
def test_matrix_values_are_float(form, tmp_path, monkeypatch):
    """Values of every printed form, read from the byte matrices, are float()'s (mmengine's lines: one shape)."""
    monkeypatch.setattr(textlog, "CHUNK", 1 << 15)
    r = random.Random(_FORMS.index(form))
    values = [_value(r, form) for _ in range(3000)]
    text = "".join(f"05/04 08:52:00 - mmengine - INFO - Iter(train) [{i + 1:7d}/9999990]  lr: 1.0000e-04  "
                   f"loss: {v}  grad_norm: 1.5000\n" for i, v in enumerate(values))
    path = tmp_path / "mm.log"
    path.write_text(text)
    fast, taken, slow = _both(path, mmengine.FORMAT, monkeypatch)
    assert fast == slow
    assert taken > 0 or form in ("{!r}", "{:.12f}", "{:.15f}", "{:.16f}")  # (over 15 digits: the split's)
    assert dict(fast[0])["loss"][1] == [repr(float(v)) for v in values]


def test_program_admits_only_what_it_reads_exactly():
    ok = layoutsplit.program
    assert ok(rb"Iter\(train\) *\[ *(\d+)/(\d+)\]  loss: ([-+0-9A-Za-z_.]+)" + textlog.LINE_END, re.M)
    assert ok(rb"iteration(?<![\w/]iteration) +(\d+)/", re.M)  # (the lookbehind reaches one byte before)
    assert ok(rb"a [^|\n]*\| (\d+)", re.M) == frozenset(b"\n")  # (may run over a redraw: lines)
    assert ok(rb"a [^|\n\x1e]*\| (\d+)", re.M) == frozenset(b"\n\x1e")
    assert ok(rb"step 1(\d+)", re.M) is None  # a literal digit tells digits apart
    assert ok(rb"step ([1-9]\d*)", re.M) is None
    assert ok(rb"(\d+) x \1", re.M) is None  # a back reference compares text with text
    assert ok(rb"(?<!ab)step (\d+)", re.M) is None  # looks two bytes before an attempt
    assert ok(rb"step (\d+)\s+loss", re.M) is None  # \s takes a line feed
    assert ok(rb"step (\d+)(?=\s+loss)", re.M) is None
    assert ok(rb"step (\d+)(?=\n)", re.M)  # (a one-byte look may see the separator)
    assert ok(rb"step (\d+)$", 0) is None  # (without re.M `$` is also true before the text's last line feed)


def test_marked_is_the_join_of_the_gaps():
    r = random.Random(1)
    text = bytes(r.randrange(32, 127) for _ in range(5000))
    cuts = sorted(r.sample(range(len(text)), 400))
    starts, ends = np.array(cuts[0::2]), np.array(cuts[1::2])
    gaps = [text[a:b] for a, b in zip([0, *ends.tolist()], [*starts.tolist(), len(text)])]
    assert textlog.marked(text, starts, ends) == textlog._TAKEN.join(gaps)
    assert textlog.marked(text, starts[:0], ends[:0]) == text


# ------------------------------------------------------------------------------------------ redraws as units

_WALKED = (
    rb"(?:Epoch (?P<epoch>\d+)\b[^|\n]*\|[^|\n]*\| *(?P<n>\d+)/(?P<total>\d+) "
    rb"\[[^\]\n,]*(?:, *[^\]\n,=]*)?(?=, [^=,\]\n]+=)),\ loss=([-+0-9A-Za-z_.]+)(?:\])",
    rb"a[^b\n]*b(c)?d",
    rb"a(?:bc|b)c*?d",
    rb"(?<=x)a+?(b|ab)(?!c)",
    rb"^a\w*\b(?:b[ab]*)?$",
    rb"\Ba[^a]{2,3}(?=ab|b)",
    rb"a((b)|(ab))*?b",
)


@pytest.mark.parametrize("pattern", _WALKED)
def test_walk_is_the_engine_where_it_answers(pattern):
    """`Walk` is the regex engine's search at one start: on random texts of the bytes its tests tell apart, at
    every start, where it answers (no byte outside the text read) the same match and captures as `re`."""
    r = random.Random(len(pattern))
    rx = re.compile(pattern, re.M)
    try:
        walk = layoutsplit.Walk(pattern, re.M)
    except layoutsplit._Out:  # (a construct it does not model: `take_redraws` leaves such a shape alone)
        assert pattern == _WALKED[-1]
        return
    answered = matched = 0
    draw = b"\x1eEpoch 3:  12%|#  | 12/100 [01:02<03:20, 8.52it/s, loss=1.23]\x1e"
    for i in range(1200):
        if i % 2:  # (bytes its tests tell apart, and pieces of a draw)
            text = b"".join(r.choice((b"a", b"b", b"c", b"d", b"x", b"xa", b"ab", b"|", b"\n", b"\x1e", b" ", b",", b"=", b"]", b"7",
                                      b"Epoch ", b"12/100 [", b", loss=", b"1.5")) for _ in range(r.randrange(1, 30)))
        else:  # a draw with a few bytes changed, dropped or doubled
            text = bytearray(draw * r.randrange(1, 3))
            for _ in range(r.randrange(0, 4)):
                q = r.randrange(len(text))
                text[q:q + 1] = r.choice((b"", b"|", b"\x1e", b"\n", b",", b"]", b"=", b"9", text[q:q + 1] * 2))
            text = bytes(text)
        for p in range(len(text)):
            try:
                got = walk.match(text, p)
            except layoutsplit._Out:
                continue
            answered += 1
            m = rx.match(text, p)
            if got is None:
                assert m is None, (text, p)
                continue
            matched += 1
            assert m is not None and m.end() == got[0], (text, p)
            assert all(m.span(g) == got[1].get(g, (-1, -1)) for g in range(1, rx.groups + 1)), (text, p)
    assert answered > 1000 and matched > 0


def _cr_bar(r: random.Random, n: int, per: int, garble: float = 0.0, ansi: bool = False) -> str:
    out = ["GPU available: True (cuda), used: True\nLOCAL_RANK: 0\n"]
    for i in range(n):
        e, k = divmod(i, per)
        k += 1
        s = (f"Epoch {e}:  {k * 100 // per:3d}%|{'#' * (k * 10 // per):10}| {k}/{per} [01:{k % 60:02d}<03:20, "
             f"{8 + r.random():.2f}it/s, loss={r.random() * 3:.3g}, v_num=7, train_loss_step={r.random() * 3:.4f}]")
        if r.random() < garble:
            cut = r.randrange(len(s))
            s = s[:cut] if r.random() < 0.5 else s[:cut] + s[cut + 3:]
        if ansi and r.random() < 0.3:
            s = "\x1b[32m" + s + "\x1b[0m"
        out.append("\r" + s + ("\n" if k == per else ""))
    return "".join(out)


@pytest.mark.parametrize("chunk", [1 << 15, textlog.CHUNK])
@pytest.mark.parametrize("kind", ["plain", "garbled", "ansi", "cut"])
def test_cr_only_bar_read_by_its_redraws(kind, chunk, tmp_path, monkeypatch):
    """A bar redrawn by `\\r` alone, the line fed where the epoch's bar closes (one long line of redraws): its
    redraws are the units (`take_redraws`), each layout proven by `Walk`; the same frame as the split's, and the
    redraws took most records. Garbled draws (cut, bytes dropped) and ANSI colours are found by the engine."""
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    r = random.Random(7)
    text = _cr_bar(r, 12000, 1500, garble=0.01 if kind == "garbled" else 0.0, ansi=kind == "ansi")
    path = tmp_path / "bar.log"
    path.write_text(text[:len(text) * 2 // 3] if kind == "cut" else text)
    taken = []
    real = layoutsplit.take_redraws

    def counting(*args, **kwargs):
        got = real(*args, **kwargs)
        taken.append(0 if got is None else len(got[0][0]))
        return got

    monkeypatch.setattr(layoutsplit, "take_redraws", counting)
    fast, _ = _frame(path, progress_bar.FORMAT, True)
    with monkeypatch.context() as m:
        m.setattr(textlog.Reader, "matrix", lambda self, shape, text, line_base: None)
        slow, _ = _frame(path, progress_bar.FORMAT, True)
    assert fast == slow
    if chunk > 1 << 15:  # (32 KB chunks hold few redraws of a layout: some are taken, most left)
        assert sum(taken) > (4000 if kind == "cut" else 6000)
    else:
        assert sum(taken) > 0
