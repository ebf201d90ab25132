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

import numpy as np

from . import textlog
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
    piece does not end with a line feed): `_fields` of the piece, where most of its lines are train lines of one
    byte layout (the same step width and value widths, the digits aside) those as a byte matrix (`_layout`) and
    `_fields` of the others."""
    size = len(buf) - 2 * PAD
    if size < 1 << 12 or buf[PAD + size - 1] != 10:
        return _fields(buf)
    whole = np.frombuffer(buf, dtype=np.uint8)
    body = whole[PAD:PAD + size]
    ends = np.flatnonzero(body == 10)  # each line's line feed
    n = len(ends)
    starts = np.empty(n, dtype=np.int64)
    starts[0] = 0
    starts[1:] = ends[:-1] + 1
    width = ends - starts + 1  # (with its line feed)
    mid = int(np.bincount(np.minimum(width, _WIDEST + 1)).argmax())  # the most common width
    same = np.flatnonzero(width == mid)
    if 2 * len(same) < n or mid > _WIDEST:
        return _fields(buf)
    # (lines, mid rounded up to 8) bytes: a row's bytes past its line feed are the next line's or the pad's
    rows = np.lib.stride_tricks.sliding_window_view(whole[PAD:], -(-mid // 8) * 8)[starts[same]]
    got = _layout(rows, len(rows) // 2, mid)
    if got is None:
        return _fields(buf)
    fit, tsteps, tvalues, marks = got
    if tsteps is None or 2 * int(np.count_nonzero(fit)) < n:
        return _fields(buf)
    at = same[fit]  # the lines read by their layout
    other = np.ones(n, dtype=bool)
    other[at] = False
    steps = np.empty(n)
    steps[at] = tsteps
    train = np.zeros(n, dtype=bool)
    train[at] = True
    values = [np.empty(n) for _ in range(3)]
    for full, v in zip(values, tvalues):
        full[at] = v
    lines = (np.zeros(0, dtype=np.int64),) * 2
    parts = [np.zeros(0)] * 2
    # every byte that is no digit: the model's in each line read by its layout (so their digit columns hold
    # digits), and those of the other lines (`_fields` counts its own)
    others = 0
    if other.any():
        rest = np.flatnonzero(other)
        keep = np.repeat(other, width)
        text = body[keep]
        others = int(np.count_nonzero((text - np.uint8(48)) > 9))
        got = _fields(b"".join((_PAD, text.tobytes(), _PAD)))
        if got is None:
            return None
        rsteps, _, (rtl, rtel, rev), rparts = got
        steps[rest] = rsteps
        train[rest[rtl]] = True
        for full, v in zip(values, rparts[:3]):
            full[rest[rtl]] = v
        lines, parts = (rest[rtel], rest[rev]), rparts[3:]
    if np.count_nonzero((body - np.uint8(48)) > 9) != len(at) * marks + others:
        return _fields(buf)
    tl = np.flatnonzero(train)
    return steps, n, (tl,) + tuple(lines), [full[tl] for full in values] + list(parts)


_WIDEST = 64  # bytes of a train line read by its layout (its digits at most 15 a value: exact, as span_numbers)
_POW10 = np.array([float(10 ** k) for k in range(16)])  # exact doubles
_POW10_INT = 10 ** np.arange(16, dtype=np.int64)


def _layout(rows: np.ndarray, at: int, width: int):
    """(fit, steps, [trl, lr, norm values]) of lines of one width as a byte matrix (rows of a multiple of 8 bytes,
    the line's `width` first), where the row `at` is a plain train line, the model: fit says which rows are that
    line but for its digits (every byte that is no digit in the model the same, 8 bytes at a time; that the
    others are digits is the caller's count of the piece's non-digit bytes), and their values are read at the
    model's digit columns (each at most 15 digits: the digits times their powers of ten as integers, then one
    division by 10**k, exact as span_numbers). None where the model is no such line."""
    text = rows[at, :width].tobytes()
    got = _fields(b"".join((_PAD, text, _PAD)))
    if got is None or not len(got[2][0]):
        return None
    model = rows[at, :width]
    digit = np.zeros(rows.shape[1], dtype=bool)
    digit[:width] = (model - np.uint8(48)) <= 9
    same = np.zeros(rows.shape[1], dtype=bool)  # the bytes that must be the model's
    same[:width] = ~digit[:width]
    words = rows.view("<u8")
    keep = same.view(np.uint8).view("<u8") * np.uint64(0xFF)  # (0xFF at each such byte)
    fit = ~((words ^ words[at]) & keep).any(axis=1)
    if 2 * int(np.count_nonzero(fit)) < len(fit):
        return fit, None, None, 0
    rows = rows if fit.all() else rows[fit]
    out = []
    pos = 0
    for field in text[:-1].split(b" "):  # `s:N`, `trl:v`, `lr:v`, `norm:v`
        a = pos + field.index(b":") + 1
        b = pos + len(field)
        pos = b + 1
        cols = np.flatnonzero(digit[a:b])
        if len(cols) > 15:
            return None
        weights = np.zeros(b - a, dtype=np.int64)  # (0 at a sign or point)
        weights[cols] = _POW10_INT[len(cols) - 1::-1]
        v = ((rows[:, a:b] - np.uint8(48)).astype(np.int64) @ weights).astype(np.float64)
        point = text.find(b".", a, b)
        after = 0 if point < 0 else int(np.count_nonzero(cols > point - a))
        if after:
            v /= _POW10[after]
        if text[a:a + 1] == b"-":
            np.negative(v, out=v)
        out.append(v)
    return fit, out[0], out[1:], int(np.count_nonzero(~digit[:width]))


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
