"""The main.log of Karpathy's llm.c (`train_gpt2cu -o <dir>`) and its forks: one `s:<step> key:value ...` per line.

```
s:0 tel:11.0095
s:0 trl:11.0116 lr:0.000001 norm:14.96
s:250 eval:0.2512
```
(`llmc/logger.h`: `logger_log_train` writes `trl` (the step's training loss), `lr` and `norm` (the gradient norm
before clipping); `logger_log_val` writes `tel`, the validation loss; `logger_log_eval` writes `eval`, the HellaSwag
accuracy of that evaluation, higher is better.) The step is llm.c's own 0-based step.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from . import bytematrix, textlog
from ..heap import Grow
from .base import MetricNames, SourceData, StepRuns
from .spannumbers import KEEP_LOW, PAD, span_numbers, words

# llm.c's three-letter keys, spelled out for the ontology
_KEYS = {"trl": "loss", "tel": "loss", "lr": "learning_rate", "norm": "grad_norm", "eval": "hellaswag_accuracy"}

TRAIN = textlog.Kind(name="train", head=rb"^s:(?P<step>\d+) (?=trl:)", pair=rb"([a-z]+):(" + textlog.NUM + rb")",
                     step=lambda f: f["step"], keys=lambda k: _KEYS.get(k, k))
VAL = textlog.Kind(name="val", head=rb"^s:(?P<step>\d+) (?=tel:|eval:)", pair=rb"([a-z]+):(" + textlog.NUM + rb")",
                   eval=True, step=lambda f: f["step"], keys=lambda k: _KEYS.get(k, k))


def post(reader: textlog.Reader, src: SourceData) -> None:
    src.hints.setdefault("method", "pt")


FORMAT = textlog.Format(name="llmc", kinds=(TRAIN, VAL), post=post, redraws=False, what="log lines")


def read(path):
    """The file by whole-piece numpy passes (`_fast`) where every line is one of logger.h's three lines in its
    plain form; anything else (a foreign or blank line, `nan`, an exponent, a cut last line, `\r`, a field more or
    less) is read by `textlog` from the start, which is the definition."""
    got = _fast(path)
    return got if got is not None else textlog.read(path, FORMAT)


# the fields' keys with their colons: a line is `s:` then the train line's `trl: lr: norm:` or one of `tel:` and
# `eval:` (VAL's two lines)
_FIELDS = (b"s:", b"trl:", b"lr:", b"norm:", b"tel:", b"eval:")
_S, _TRL, _LR, _NORM, _TEL, _EVAL = range(6)


def _slots(magic: int) -> tuple[np.ndarray, np.ndarray]:
    """Each key's 8-byte word (its bytes, zeros above) is looked up by a multiplicative hash whose top 3 bits tell
    the six apart: the key of each slot (0 in the two empty ones: no key's word with its colon is 0) and its field."""
    code, field = np.zeros(8, dtype=np.uint64), np.zeros(8, dtype=np.int8)
    for i, key in enumerate(_FIELDS):
        c = int.from_bytes(key, "little")
        slot = (c * magic % (1 << 64)) >> 61
        assert not code[slot]
        code[slot], field[slot] = c, i
    return code, field


_MAGIC = 0x91B7584A2265B1F5
_SLOT_CODE, _SLOT_FIELD = _slots(_MAGIC)


def _fast(path):
    """What `textlog.read(path, FORMAT)` returns, for a file whose every line is `s:<step> trl:<v> lr:<v>
    norm:<v>`, `s:<step> tel:<v>` or `s:<step> eval:<v>` with single blanks, the step digits and each value
    `[-+]?digits[.digits]` (`span_numbers`), and which ends in a line feed; None for any other file (then nothing
    of it is kept). As build_nanogpt's `_fast`: each metric's values in a growable store that becomes its Series
    without a copy (the train line's three metrics share one store of steps and lines until then), the records'
    steps only where the counter falls (`StepRuns`)."""
    names = MetricNames(FORMAT.dialect)
    metric = [names[_KEYS[k], ev] for k, ev in (("trl", False), ("lr", False), ("norm", False), ("tel", True),
                                                 ("eval", True))]
    values = [Grow("d") for _ in metric]
    # (steps, lines) of the train lines, the `tel` lines and the `eval` lines
    where = [(Grow("d"), Grow("q")) for _ in range(3)]
    runs = StepRuns()
    stream = textlog.Chunks(path)
    for raw, line_base, final in stream:
        feeds = 0
        for piece in _padded_pieces(raw):
            got = _piece(piece)
            if got is None:
                return None
            steps, n, lines, parts = got
            first = line_base + feeds + 1
            feeds += n
            runs.add(steps, np.arange(first, first + n, dtype=np.int64))
            for (st, ln), at in zip(where, lines):
                if len(at):
                    st.frombytes(steps[at])
                    ln.frombytes(at + first)
            for store, got in zip(values, parts):
                if len(got):
                    store.frombytes(got)
        stream.feeds = feeds
    if not runs.records:
        return None
    src, cols = textlog.whole_piece_source(path, FORMAT, stream, runs)
    rising = runs.rising
    users = [sum(1 for k in range(len(metric)) if _LINES_OF[k] == j and len(values[k])) for j in range(3)]
    for k in sorted(range(len(metric)), key=lambda k: metric[k]):
        if not len(values[k]):
            continue
        j = _LINES_OF[k]
        users[j] -= 1
        s, l_ = where[j][0].view(np.float64), where[j][1].view(np.int64)
        if users[j]:  # (the last of the metrics sharing them takes the arrays themselves)
            s, l_ = s.copy(), l_.copy()
        else:
            where[j] = None
        v = values[k].view(np.float64)
        values[k] = None
        if rising:
            s, v, l_ = textlog.last_per_step(s, v, l_)
        series = cols.finish(s, v, l_)
        if series is not None:
            src.series[metric[k]] = series
    src.records = runs.records
    return src


_LINES_OF = (0, 0, 0, 1, 2)  # the lines of each metric: train, tel, eval


PIECE = 1 << 20  # bytes of lines read at once (1 MB ran ~10% faster than 0.5 or 2 MB here; 8 MB 35% slower)
_PAD = b"\0" * PAD


def _padded_pieces(raw: bytes):
    """A chunk of whole lines as pieces of whole lines of about PIECE bytes (a longer line is a piece of its own),
    each with PAD zero bytes before and after it (`words` reads 8 bytes at any offset), copied once."""
    view = memoryview(raw)
    a = 0
    while a < len(raw):
        b = len(raw) if a + 2 * PIECE >= len(raw) else raw.rfind(b"\n", a, a + PIECE) + 1
        if b <= a:
            b = raw.find(b"\n", a + PIECE) + 1 or len(raw)
        yield b"".join((_PAD, view[a:b], _PAD))
        a = b


def _piece(buf: bytes):
    """(steps, line feeds, line indexes of the train, `tel` and `eval` lines, values of each metric) of a padded
    piece of whole lines (`_padded_pieces`), or None where some line is not one of the three plain lines (or the
    piece does not end with a line feed): `_fields` of the piece. The lines of its most common byte layouts
    (`bytematrix.layouts`: every byte but the digits a model line's, the digits digits) whose model is one of the
    three lines are read at the model's offsets (`bytematrix.fields_values`, exact as `span_numbers`), and the
    others by `_fields`, joined."""
    size = len(buf) - 2 * PAD
    if size < 1 << 12 or buf[PAD + size - 1] != 10:
        return _fields(buf)
    arr = np.frombuffer(buf, dtype=np.uint8)
    ends = np.flatnonzero(arr[PAD:PAD + size] == 10) + PAD  # each line's line feed
    n = len(ends)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = PAD
    starts[1:] = ends[:-1] + 1
    kind = np.full(n, -1, dtype=np.int8)  # 0 a train line, 1 `tel`, 2 `eval` (-1: not read yet)
    steps = np.empty(n)
    values = np.empty((n, 3))  # a train line's trl, lr and norm; the value of a `tel` or `eval` line first
    w8 = bytematrix.words(buf)
    for model, rows in bytematrix.layouts(arr, starts, ends - starts):
        plan = _plan(model)
        if plan is not None:
            got = bytematrix.fields_values(w8, starts[rows], plan[1])
            steps[rows] = got[:, 0]
            values[rows, :got.shape[1] - 1] = got[:, 1:]
            kind[rows] = plan[0]
    rest = np.flatnonzero(kind < 0)
    if 2 * len(rest) > n:
        return _fields(buf)
    if len(rest):  # (each with its line feed)
        text = b"".join([buf[a:b] for a, b in zip(starts[rest].tolist(), (ends[rest] + 1).tolist())])
        got = _fields(b"".join((_PAD, text, _PAD)))
        if got is None:
            return None
        steps[rest] = got[0]
        for k, (at, *parts) in enumerate(((got[2][0], *got[3][:3]), (got[2][1], got[3][3]), (got[2][2], got[3][4]))):
            kind[rest[at]] = k
            for j, v in enumerate(parts):
                values[rest[at], j] = v
    tl, tel, ev = (np.flatnonzero(kind == k) for k in range(3))
    return steps, n, (tl, tel, ev), [values[tl, 0], values[tl, 1], values[tl, 2], values[tel, 0], values[ev, 0]]


@lru_cache(maxsize=64)
def _plan(model: bytes):
    """(kind, [(offset, `bytematrix.number_layout`) of the step and of each value]) of a line layout (the digits
    as `0`, no line feed) that is one of the three plain lines (`_fields` reads it), else None; kind 0 a train
    line, 1 `tel`, 2 `eval`."""
    got = _fields(b"".join((_PAD, model, b"\n", _PAD)))
    if got is None:
        return None
    fields, pos = [], 0
    for field in model.split(b" "):
        at = pos + field.index(b":") + 1
        layout = bytematrix.number_layout(field[at - pos:])
        if layout is None:  # (more than 15 digits)
            return None
        fields.append((at, layout))
        pos += len(field) + 1
    return [len(lines) for lines in got[2]].index(1), fields


def _fields(buf: bytes):
    """`_piece` of any piece, field by field.

    The colons and the bytes up to the blank of such a piece alternate: a colon, then the blank or line feed that
    ends the field's value. One pass finds them all; each field's key with its colon is one 8-byte word, looked
    up; the fields of each line must be `s` then `trl lr norm`, `tel` or `eval`; one count of the piece's bytes that
    are no digit checks that the values hold nothing but their digits and the signs and points read."""
    size = len(buf) - 2 * PAD
    if buf[PAD + size - 1] != 10:
        return None
    a = np.frombuffer(buf, dtype=np.uint8)
    body = a[PAD:PAD + size]
    marks = np.flatnonzero((body <= 32) | (body == 58))
    if len(marks) % 2:
        return None
    marks += PAD
    m = a[marks]
    colon, end = marks[0::2], marks[1::2]
    ends = m[1::2]
    feed = ends == 10
    if not ((m[0::2] == 58).all() and (feed | (ends == 32)).all()):
        return None
    start = np.empty(len(colon), dtype=np.int64)  # each field's first byte (its key's)
    start[0] = PAD
    start[1:] = end[:-1] + 1
    width = colon - start + 1  # the key with its colon
    if width.min() < 2 or width.max() > 8:
        return None
    code = words(buf)[start] & KEEP_LOW[width]
    slot = (code * np.uint64(_MAGIC)) >> np.uint64(61)
    if not (_SLOT_CODE[slot] == code).all():
        return None
    field = _SLOT_FIELD[slot]
    last = np.flatnonzero(feed)  # each line's last field
    n = len(last)
    head = np.empty(n, dtype=np.int64)  # each line's first field
    head[0] = 0
    head[1:] = last[:-1] + 1
    count = last - head + 1
    train = count == 4
    if not (field[head] == _S).all() or not (train | (count == 2)).all():
        return None
    tl = np.flatnonzero(train)  # (line indexes)
    th = head[tl]
    ol = np.flatnonzero(~train)
    oh = head[ol] + 1
    of = field[oh]
    tel, ev = of == _TEL, of == _EVAL
    if not ((field[th + 1] == _TRL).all() and (field[th + 2] == _LR).all() and (field[th + 3] == _NORM).all()
            and (tel | ev).all()):
        return None
    steps, ok, _ = span_numbers(buf, colon[head] + 1, end[head], integers=True, counted=True)
    if not ok.all():
        return None
    parts, signs = [], 0
    for fields in (th + 1, th + 2, th + 3, oh[tel], oh[ev]):
        values, ok, more = span_numbers(buf, colon[fields] + 1, end[fields], counted=True)
        if not ok.all():
            return None
        signs += more
        parts.append(values)
    # every byte that is no digit: the keys with their colons, each field's blank or line feed, and the values'
    # signs and points
    if np.count_nonzero((body - np.uint8(48)) > 9) != int(width.sum()) + len(colon) + signs:
        return None
    return steps, n, (tl, ol[tel], ol[ev]), parts


SOURCE = textlog.source(
    FORMAT, "llm.c's `main.log` (`s:0 trl:11.0116 lr:0.000001 norm:14.96`, `s:0 tel:11.0095`)",
    rb"^s:\d+ trl:" + textlog.NUM, rb"^s:\d+ tel:" + textlog.NUM,
    examples=("karpathy/llm.c `-o log124M` main.log and its forks",))
