"""The template path of the text readers (`sources/linefast.py`): a shape's records taken by a literal regex per
line layout must be exactly what the shape's own split takes, so every reader's output is the same with it and
without it."""
from __future__ import annotations

import re

import numpy as np
import pytest

from kto_doctor.sources import generic_kv, linefast, megatron, textlog, torchtune

from test_text_readers import _same_source, meg, write


@pytest.fixture(autouse=True)
def _no_byte_matrices(monkeypatch):
    """The byte matrices are tried before the templates where both apply (`textlog.Reader.first`): off here, so
    that the templates take what they would (tests/test_layoutsplit.py compares the two ways)."""
    monkeypatch.setattr(textlog.Reader, "matrix", lambda self, shape, text, line_base: None)


def _without_templates(monkeypatch, read, path):
    with monkeypatch.context() as m:
        m.setattr(linefast, "compile_shape", lambda pattern, flags: None)
        return read(path)


def _nanogpt(rng, n: int) -> list:
    lines = []
    for i in range(1, n):
        lines.append(f"iter {i}: loss {3 + rng.random():.4f}, time {1000 + rng.random() * 100:.2f}ms, mfu 15.1%")
        if i % 700 == 0:
            lines.append(f"step {i}: train loss {3 + rng.random():.4f}, val loss {3 + rng.random():.4f}")
    return lines


# each variant: what a line of the log becomes (i: its index), for lines other shapes, odd values and damage
_VARIANTS = {
    "plain": lambda i, s: s,
    "odd values": lambda i, s: re.sub(r"\d+\.\d+", ("nan", "1_000", "-inf", "1e400", "+3.5", "0x1f", "1.5ms",
                                                    "--1")[i % 8], s, count=1) if i % 41 == 5 else s,
    "prefixes": lambda i, s: ("[rank0]: " + s) if i % 13 == 0 else s,
    "padding": lambda i, s: (s + "  ") if i % 29 == 0 else s,
    "letters in values": lambda i, s: s.replace(".", "a", 1) if i % 31 == 0 else s,
    "Iter and iteration": lambda i, s: s.replace("iter ", ("Iter ", "iteration ", "iter  ", "iter:")[i % 4], 1)
                                      if i % 17 == 0 else s,
    "blank and mark lines": lambda i, s: ("" if i % 37 == 0 else "\x1f") if i % 37 == 0 or i % 101 == 0 else s,
    "nul bytes": lambda i, s: s.replace(",", "\x00,", 1) if i % 53 == 0 else s,
    "other lines between": lambda i, s: s + ("\nsaving checkpoint to out" if i % 3 else ""),
}


@pytest.mark.parametrize("variant", sorted(_VARIANTS))
@pytest.mark.parametrize("chunk", [textlog.CHUNK, 1 << 15])
def test_generic_kv_reads_the_same_with_templates(tmp_path, monkeypatch, variant, chunk):
    rng = np.random.default_rng(3)
    lines = [_VARIANTS[variant](i, s) for i, s in enumerate(_nanogpt(rng, 9000))]
    p = write(tmp_path, "\n".join(lines)[:-7])  # (cut inside the last record)
    monkeypatch.setattr(textlog, "CHUNK", chunk)
    calls = []
    orig = textlog.Reader.fast
    monkeypatch.setattr(textlog.Reader, "fast", lambda self, *a: calls.append(orig(self, *a)) or calls[-1])
    got = generic_kv.read(p)
    assert any(c is not None for c in calls)  # (the template path took records)
    _same_source(got, _without_templates(monkeypatch, generic_kv.read, p))


@pytest.mark.parametrize("variant", ["plain", "odd values", "prefixes", "padding", "nul bytes"])
def test_megatron_reads_the_same_with_templates(tmp_path, monkeypatch, variant):
    """Right-justified counters change their padding at every power of ten: several templates a chunk."""
    lines = []
    for i in range(1, 4000):
        lines.append(meg(i, loss=1 + (i % 7) / 3, skipped=i % 500 == 0, grad=f"{(i % 13) / 7:.3f}").rstrip("\n"))
        if i % 10 == 0:
            lines.append("time (ms) | forward-compute: 193.77 | backward-compute: 73.02")
    lines = [_VARIANTS[variant](i, s) for i, s in enumerate(lines)]
    p = write(tmp_path, "\n".join(lines) + "\n")
    monkeypatch.setattr(textlog, "CHUNK", 1 << 16)
    assert not linefast.worth(linefast.Program(_megatron_shape(p), re.M))  # (no gain here: the exactness is tested)
    monkeypatch.setattr(linefast, "worth", lambda prog: True)
    calls = []
    orig = textlog.Reader.fast
    monkeypatch.setattr(textlog.Reader, "fast", lambda self, *a: calls.append(orig(self, *a)) or calls[-1])
    got = megatron.read(p)
    assert sum(c[3] for c in calls if c is not None) > 3000  # (records the template path took)
    _same_source(got, _without_templates(monkeypatch, megatron.read, p))


def _megatron_shape(path) -> bytes:
    reader = textlog.Reader(path, megatron.FORMAT)
    reader.chunk(path.read_bytes()[:20000].rsplit(b"\n", 1)[0] + b"\n", 0)
    return reader.primaries[0].regex.pattern


def test_a_shape_of_literals_and_values_only_gets_no_template():
    """torchtune's learned shape is literal text and value runs already: its own split is as fast."""
    shape = rb"(?:Step (?P<step>\d+) \| )loss:([-+0-9A-Za-z_.]+)\ lr:([-+0-9A-Za-z_.]+)(?:[ \t]*(?=[\n\x1e]|\Z))"
    assert linefast.compile_shape(shape, re.M) is None
    assert torchtune.FORMAT.kinds  # (the reader itself is covered by its own tests)


def test_a_decision_on_a_value_byte_refuses_the_template():
    """`[0-9]*` before a value run decides on the value's first byte: on `id x5` it takes nothing, on `id 55` it
    takes a 5 that the value then lacks. A template built from the first line would read `55` from the second;
    it is refused, and the shape's split reads both."""
    pattern = rb"(?:id )[0-9]*([-+0-9A-Za-z_.]+)(?:[ \t]*(?=[\n\x1e]|\Z))"
    rx = re.compile(pattern, re.M)
    text = b"head\nid x5\nid 55\n"
    assert rx.split(text)[1::2] == [b"x5", b"5"]
    prog = linefast.Program(pattern, re.M)
    assert prog.template(text, rx.search(text)) is None


def test_the_template_regex_takes_the_lines_of_its_layout_with_the_shape_captures():
    pattern = generic_kv.ITER.head
    shape = rb"(?:" + pattern + rb"):\ loss\ ([-+0-9A-Za-z_.]+),\ time\ [-+0-9A-Za-z_.]+ms,(?:[ \t]*(?=[\n\x1e]|\Z))"
    rx = re.compile(shape, re.M)
    text = (b"x\niter 1: loss 3.5, time 10.5ms,\niter 22: loss 2.25e-3, time 9ms,\nIter 3: loss 1.0, time 1ms,\n"
            b"iter 4: loss 1.0, time 1ms, \n")
    prog = linefast.compile_shape(shape, re.M)
    tmpl = prog.template(text, rx.search(text))
    trx = tmpl.regex()
    assert trx.groups == 2 and trx.split(text)[1::3] == [b"1", b"22"] and trx.split(text)[2::3] == [b"3.5", b"2.25e-3"]
    want = [m.groups() for m in rx.finditer(text)][:2]
    assert want == [(b"1", None, b"3.5"), (b"22", None, b"2.25e-3")] and tmpl.absent == {2}
