"""The `log.txt` of Karpathy's build-nanogpt (`train_gpt2.py`) and its many forks: one `step split value` per line.

```
0 val 11.0864
0 hella 0.2498
0 train 11.087302
1 train 10.974887
```
`train` is the step's training loss, `val` the validation loss (every 250 steps in the original), `hella` the
HellaSwag accuracy of that evaluation (an evaluation metric, higher is better).
"""
from __future__ import annotations

import dataclasses
from array import array

import numpy as np

from . import textlog
from .base import MetricNames, SourceData, StepRuns
from .spannumbers import KEEP_LOW, PAD, span_numbers, words

# what a paste or a launcher puts before each line: quote marks (`> `, `>> `), torchrun's `[rank0]: ` / `[default0]: `
LEAD = rb"(?:(?:>[ \t]?)+|\[(?:rank|default)\d+\]:[ \t]*)?"
TRAIN = textlog.Kind(name="train",
                     head=rb"^" + LEAD + rb"(?P<step>\d+) train (?P<loss>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                     step=lambda f: f["step"], metrics=(("loss", "loss"),))
VAL = textlog.Kind(name="val", head=rb"^" + LEAD + rb"(?P<step>\d+) val (?P<loss>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                   eval=True, step=lambda f: f["step"], metrics=(("loss", "loss"),))
HELLA = textlog.Kind(name="hella",
                     head=rb"^" + LEAD + rb"(?P<step>\d+) hella (?P<acc>" + textlog.NUM + rb")(?=[ \t]*\r?$)",
                     eval=True, step=lambda f: f["step"], metrics=(("acc", "hellaswag_accuracy"),))


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("method", "pt")


FORMAT = textlog.Format(name="build_nanogpt", kinds=(TRAIN, VAL, HELLA), post=post, redraws=False,
                        what="log lines")


def read(path):
    """The file by whole-chunk numpy passes (`_fast`) where every line is one of the three record lines in its
    plain form, as the script writes them; anything else (a blank or foreign line, a value such as `nan` or
    `1e-05`, a cut last line, `\r`) is read by `textlog` from the start, which is the definition."""
    got = _fast(path)
    return got if got is not None else textlog.read(path, FORMAT)


def _fast(path):
    """What `textlog.read(path, FORMAT)` returns, for a file whose every line is `<step> <train|val|hella>
    <number>` with single blanks, the step digits and the number `[-+]?digits[.digits]` (`span_numbers`), and
    which ends in a line feed; None for any other file (then nothing of it is kept).

    Each chunk is a few numpy passes: line ends, the two blanks of every line, the word between them as an
    integer, the step and the value of every line at once. Each metric keeps (step, value, line) in growable
    arrays, which become its `Series` without a copy, and the records' steps only where the counter goes down
    (a restart: the first and last record of every stretch is all `Columns.set_steps` needs), so memory is the
    output and one chunk."""
    names = MetricNames(FORMAT.dialect)
    metric = [names["loss", False], names["loss", True], names["hellaswag_accuracy", True]]
    store = [(array("d"), array("d"), array("q")) for _ in metric]
    runs = StepRuns()
    stream = textlog.Chunks(path)
    for raw, line_base, final in stream:
        feeds = 0
        for piece in _pieces(raw):
            got = _piece(piece)
            if got is None:
                return None
            kinds, steps, values, n = got
            first = line_base + feeds + 1
            feeds += n
            runs.add(steps, np.arange(first, first + n, dtype=np.int64))
            other = np.flatnonzero(kinds)  # the val and hella lines (few): the rest are train lines
            if not len(other):
                st, va, ln = store[0]
                st.frombytes(memoryview(steps).cast("B"))
                va.frombytes(memoryview(values).cast("B"))
                ln.frombytes(memoryview(np.arange(first, first + n, dtype=np.int64)).cast("B"))
                continue
            for k, (st, va, ln) in enumerate(store):
                at = np.flatnonzero(kinds == k) if k else None
                if k == 0:
                    keep = np.ones(n, dtype=bool)
                    keep[other] = False
                    at = np.flatnonzero(keep)
                if len(at):
                    st.frombytes(memoryview(steps[at]).cast("B"))
                    va.frombytes(memoryview(values[at]).cast("B"))
                    ln.frombytes(memoryview(at + first).cast("B"))
        stream.feeds = feeds
    if not runs.records:
        return None
    src, cols = textlog.whole_piece_source(path, FORMAT, stream, runs)
    rising = runs.rising
    order = sorted(range(len(metric)), key=lambda k: metric[k])
    for k in order:
        st, va, ln = store[k]
        store[k] = None
        if not len(st):
            continue
        s = np.frombuffer(st, dtype=np.float64)
        v = np.frombuffer(va, dtype=np.float64)
        l_ = np.frombuffer(ln, dtype=np.int64)
        del st, va, ln
        if rising:
            s, v, l_ = textlog.last_per_step(s, v, l_)
        series = cols.finish(s, v, l_)
        if series is not None:
            src.series[metric[k]] = series
    src.records = runs.records
    return src


_TEXTS = {b" train ": 0, b" val ": 1, b" hella ": 2}  # the kinds' order in FORMAT: the word and its blanks
_WORD_CODES = np.array(sorted(int.from_bytes(w, "little") for w in _TEXTS), dtype=np.uint64)
_WORD_KINDS = np.array([_TEXTS[c.to_bytes(8, "little").rstrip(b"\0")] for c in _WORD_CODES.tolist()], dtype=np.int8)
_PATTERN = np.array([32, 32, 10], dtype=np.uint8)


PIECE = 1 << 19  # bytes of lines read at once: numpy's temporary arrays stay in the cache, and are not fresh pages


def _pieces(raw: bytes):
    """A chunk of whole lines as pieces of whole lines of about PIECE bytes."""
    if len(raw) <= 2 * PIECE:
        yield raw
        return
    a = 0
    while a < len(raw):
        b = raw.rfind(b"\n", a, a + PIECE) + 1 if a + PIECE < len(raw) else len(raw)
        if b <= a:  # a line longer than a piece
            b = raw.find(b"\n", a + PIECE) + 1 or len(raw)
        yield raw[a:b]
        a = b


def _piece(raw: bytes):
    """(kind, step, value, line feeds) of every line of a piece of whole lines, or None where some line is not a
    plain record line (or the piece does not end with a line feed).

    The bytes up to the blank (line feeds, blanks, TABs, CRs and other control bytes) of a chunk of plain record
    lines are exactly blank, blank, line feed on every line, in that order: one pass finds them all and checks
    that; the word between the blanks is read as one 8-byte word (with its blanks) and looked up."""
    if not raw.endswith(b"\n"):
        return None
    buf = b"\0" * PAD + raw + b"\0" * PAD
    a = np.frombuffer(buf, dtype=np.uint8)[PAD:PAD + len(raw)]
    special = np.flatnonzero(a <= 32)
    if len(special) % 3 or not (a[special].reshape(-1, 3) == _PATTERN).all():
        return None
    special += PAD
    b1, b2, nl = special[0::3], special[1::3], special[2::3]
    n = len(nl)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = PAD
    starts[1:] = nl[:-1] + 1
    width = b2 - b1 + 1  # the word with its two blanks
    if width.max() > 8:
        return None
    code = words(buf)[b1] & KEEP_LOW[width]
    at = np.searchsorted(_WORD_CODES, code).clip(max=len(_WORD_CODES) - 1)
    if not (_WORD_CODES[at] == code).all():
        return None
    kinds = _WORD_KINDS[at]
    steps, ok, _ = span_numbers(buf, starts, b1, integers=True, counted=True)
    if not ok.all():
        return None
    values, ok, marks = span_numbers(buf, b2 + 1, nl, counted=True)
    if not ok.all():
        return None
    # every byte that is no digit: the blanks and line feeds, the words' letters, and the values' signs and points
    if np.count_nonzero((a - np.uint8(48)) > 9) != 3 * n + int(width.sum()) - 2 * n + marks:
        return None
    return kinds, steps, values, n


SOURCE = dataclasses.replace(textlog.source(
    FORMAT, "build-nanogpt's `log.txt` (`0 val 11.0864`, `0 hella 0.2498`, `0 train 11.087302`)",
    rb"^" + LEAD + rb"\d+ train " + textlog.NUM + rb"[ \t]*\r?$",
    rb"^" + LEAD + rb"\d+ val " + textlog.NUM + rb"[ \t]*\r?$",
    examples=("karpathy/build-nanogpt forks' log/log.txt",)), read=read)
