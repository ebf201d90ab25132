"""The streaming machinery every line-oriented text reader shares (Megatron, mmengine, verl, torchtune, ...).

A format module describes its records as `Kind`s: a `head` regex (the record's start token and its fixed
fields, as named groups: `iteration`, `epoch`, ...), a `pair` regex for the `name: value` items of the body,
and a `step` function. `read(path, fmt)` does the rest, one 8 MB chunk of whole lines at a time:

- *Shapes.* The first record of every key sequence is parsed slowly (the pair regex); from it a regex of that
  exact record shape is built (its literal text, a capture per numeric value, a wildcard for text values such as
  mmengine's `eta: 2:46:39`). The most productive shape is applied to each whole chunk with ONE `re.split`,
  whose output is sliced into one column of value texts per key and converted by ONE numpy call per column, so
  Python does no work per record on the common path. Record offsets come from the split's part lengths, and
  line numbers from counting newlines between consecutive records (`bytes.count`, in C). Where the chunk's lines
  repeat a few byte layouts, the most productive shape's records are read without the split, from byte matrices
  of one layout each (`layoutsplit`: the same records, marks and text left, exact by construction).
- *Leftovers.* What the primary shape did not take (other record kinds, other key sets, NaN spellings,
  damaged records) is found in the split's gaps by the kinds' head regexes, run through the other learned
  shapes, and finally parsed one by one. A record cut by the end of the file keeps its complete pairs.
- *Wrapped records.* A format may name the line breaks inside a record (a terminal or a paste wrapped it
  mid-key or mid-number); they are replaced by a NUL byte before parsing (`join`), which keeps byte offsets,
  so line numbers stay those of the file.
- *Redraws.* `\\r` counts as a line break (tqdm redraws); where a step is logged several times the last
  value wins (`Columns.finish`).

Records are numbered in file order across chunks; values are kept as (record number, value) arrays per metric,
so memory follows the number of logged values, never the file size. `Reader.finish` turns them into `Series`
through `Columns` (resumed runs, one value per step) after the format's own `post` hook (Megatron's vanished
loss key, epoch-relative step counters). A format whose steps are final as its chunks come (`Format.stream`:
mmengine, DeepSpeed-Chat within one epoch, the generic reader's step-counter lines, tqdm bars, Megatron, verl,
llama-recipes) is read streamed: each chunk's records are settled and their values go to per-metric (step, value,
line) stores at once, so that memory is the output's and one chunk's; what a chunk cannot settle (the steps go
down, a kind whose step `post` decides) has the file read again the whole way.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property
from itertools import compress, repeat
from pathlib import Path
from typing import Callable

import numpy as np

from ..heap import Grow
from . import bulkfloat, decimals, layoutsplit, lazyre, linefast
from .base import (Columns, MetricNames, Series, SourceData, SourceError, byte_shift, open_stream, regular_file,
                   release_freed, to_float)

CHUNK = 8 << 20
SAMPLE = 64 << 10  # the first chunk's start, read alone while no shape is known
NAN = float("nan")
# A numeric value as the formats print it: 2.38, -8.1e-06, 3.000E-04, .5, 1., nan, inf, -Infinity, and the
# upper-case NAN / INF that `'{:E}'.format` prints (old Megatron's `lm loss NAN`).
NUM = rb"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|[nN][aA][nN]|[iI][nN][fF](?:inity|INITY)?)"
_NUMBER = lazyre.compile(NUM + rb"\Z")
_NOT_A_NUMBER = lazyre.compile(rb"^(?![ \t]*" + NUM + rb"[ \t]*$).*$", re.M)
_DAMAGED = "\x00damaged"  # the per-row damage flags of a block read one by one
_JOIN = b"\x00"
_TAKEN = b"\x1f"  # where a record was taken out of the text by a whole-chunk shape (no line feed: lines stay)  # marks a joined line break (a wrapped record): one byte for one, so offsets stay
RECORD = np.int32  # record numbers (a file of 2**31 records would be 16 GB of bare newlines)
MAX_SHAPES = 64  # learned shapes per kind; beyond (free text in values) records are parsed one by one
# A value in a learned shape: one character class (the regex engine's fastest loop); the shape's literal text
# around it pins it down, and numpy decides what it is (a text that is no number drops the value, see floats).
# `\w` spelt out: in a bytes pattern it is exactly [0-9A-Za-z_], and a class of plain bytes compiles to one bitmap
# test per byte where `[-+\w.]` tests a category and three literals in turn (the shapes' hottest loop).
_VALUE = rb"([-+0-9A-Za-z_.]+)"
_BLANKS = lazyre.compile(rb"([ \t]+)")
_SKIP = rb"[-+0-9A-Za-z_.]+"
LINE_END = rb"[ \t]*(?=[\n\x1e]|\Z)"


def redraws_marked(raw: bytes) -> bytes:
    """`raw` with every `\\r` made `\\x1e`: a tqdm redraw ends a record, not a line (line numbers count `\\n`).
    By numpy (`byte_shift`, then the text added): 2.6 ms an 8 MB chunk here, `bytes.translate` 10."""
    a = np.frombuffer(raw, dtype=np.uint8)
    out = byte_shift(a, 13, 0x1E)
    out += a
    return out.tobytes()


def _literal_start(pattern: bytes) -> bytes | None:
    """The literal text a regex starts with (`Iter\\(train\\) *\\[` -> `Iter(train)`), or None."""
    out = bytearray()
    i = 0
    while i < len(pattern):
        c = pattern[i:i + 1]
        if c == b"\\" and i + 1 < len(pattern) and not pattern[i + 1:i + 2].isalnum():
            out += pattern[i + 1:i + 2]
            i += 2
            continue
        if c in b".^$*+?{}[]()|\\":
            break
        out += c
        i += 1
    if i < len(pattern) and pattern[i:i + 1] in b"*?{" and out:  # the last character was optional
        out = out[:-1]
    return bytes(out) if len(out) >= 3 else None


try:  # the regex parser (for `within_lines`): a module of its own before Python 3.11
    from re import _parser as _sre_parse
except ImportError:  # pragma: no cover (3.10)
    import sre_parse as _sre_parse  # type: ignore[no-redef]

_NEWLINE_CATEGORIES = {"CATEGORY_NOT_DIGIT", "CATEGORY_SPACE", "CATEGORY_NOT_WORD", "CATEGORY_LINEBREAK",
                       "CATEGORY_UNI_NOT_DIGIT", "CATEGORY_UNI_SPACE", "CATEGORY_UNI_NOT_WORD",
                       "CATEGORY_UNI_LINEBREAK", "CATEGORY_LOC_NOT_WORD"}


def _class_has_newline(items) -> bool:
    """Whether a parsed character class (`[...]`) admits a line feed."""
    hit, negate = False, False
    for op, arg in items:
        name = str(op)
        if name == "NEGATE":
            negate = True
        elif name == "LITERAL":
            hit |= arg == 10
        elif name == "RANGE":
            hit |= arg[0] <= 10 <= arg[1]
        elif name == "CATEGORY":
            hit |= str(arg) in _NEWLINE_CATEGORIES
        else:  # (a class form not known here: assume it may)
            return True
    return hit != negate


def _may_match_newline(parsed) -> bool:
    """Whether any part of a parsed pattern, lookarounds included, may match a line feed (conservative: an
    unknown construct may)."""
    for op, arg in parsed:
        name = str(op)
        if name in ("AT",):
            continue
        if name == "LITERAL":
            if arg == 10:
                return True
        elif name == "NOT_LITERAL":
            if arg != 10:
                return True
        elif name == "IN":
            if _class_has_newline(arg):
                return True
        elif name == "SUBPATTERN":
            if _may_match_newline(arg[-1]):
                return True
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            if _may_match_newline(arg[2]):
                return True
        elif name in ("ASSERT", "ASSERT_NOT"):  # a one-character look next to a line end sees its line feed only
            if not _one_character(arg[1]) and _may_match_newline(arg[1]):
                return True
        elif name == "ATOMIC_GROUP":
            if _may_match_newline(arg):
                return True
        elif name == "BRANCH":
            if any(_may_match_newline(b) for b in arg[1]):
                return True
        else:  # ANY, a back reference, a conditional group, ...
            return True
    return False


def _one_character(parsed) -> bool:
    """A pattern that looks at one character at most: a class, a literal, an anchor, or alternatives of those."""
    items = list(parsed)
    if len(items) != 1:
        return False
    op, arg = items[0]
    name = str(op)
    if name in ("IN", "LITERAL", "NOT_LITERAL", "AT"):
        return True
    if name == "BRANCH":
        return all(_one_character(b) for b in arg[1])
    return False


def literal_lead(pattern: bytes, flags: int = 0) -> bytes:
    """The bytes every match of `pattern` starts with, as the regex parser reads it: its leading literals, also
    inside groups that change no flags (and a prefix the parser factored out of alternatives); b"" where it
    ignores case or starts otherwise."""
    parsed = _sre_parse.parse(pattern, flags)
    if parsed.state.flags & re.IGNORECASE:
        return b""
    out = bytearray()
    items = list(parsed)
    while items:
        op, arg = items.pop(0)
        if str(op) == "LITERAL":
            out.append(arg)
        elif str(op) == "SUBPATTERN" and not arg[1] and not arg[2]:  # (group, flags added, flags removed, items)
            items[:0] = list(arg[3])
        else:
            break
    return bytes(out)


def within_lines(pattern: bytes, flags: int = 0) -> bool:
    """True when no match of `pattern`, and none of its lookarounds, can reach over a line feed: what it finds
    on a line depends on that line alone (and on the text's two ends, `\\A`/`\\Z`)."""
    return not _may_match_newline(_sre_parse.parse(pattern, flags))


_MARKER_RUN = lazyre.compile(rb"\n(?:\x1f\n)+")


def without_marker_lines(text: bytes, first_line: int) -> tuple[list, list]:
    """`text` as pieces (the `gaps` of `Reader.leftovers`) and the line each starts on, without the lines that
    hold only the mark of a taken record (`_TAKEN`): a chunk read by its primary shape leaves one such line per
    record, and a finder led by `^` or a lookbehind tries each of them. The first and last lines stay (`\\A`,
    `\\Z`, a cut last record); pieces joined by a line feed give the text less those lines."""
    gaps, lines = [], []
    prev, line = 0, first_line
    count = text.count
    for m in _MARKER_RUN.finditer(text):
        a, b = m.span()
        gaps.append(text[prev:a])
        lines.append(line)
        line += count(b"\n", prev, b)
        prev = b
    gaps.append(text[prev:] if prev else text)
    lines.append(line)
    return gaps, lines


def find_rare(data: bytes, needle: bytes, rare: int, start: int = 0, limit: int = 256) -> int:
    """`data.find(needle, start)`, found by memchr on `needle[rare]`, a byte seldom seen in logs (the `!` of
    `OVERFLOW!`): a search for a longer needle looks at every byte (about 2 GB/s here), memchr skips them
    (about 20 GB/s). Past `limit` occurrences of that byte, the plain search takes over."""
    c = needle[rare:rare + 1]
    find = data.find
    p = find(c, start + rare)
    n = 0
    while p >= 0:
        if data.startswith(needle, p - rare):
            return p - rare
        n += 1
        if n >= limit:
            return find(needle, p - rare + 1)
        p = find(c, p + 1)
    return -1


def holds(text: bytes, token: bytes, sample: int = 1 << 13) -> bool:
    """`token in text`, searched by memchr on the token's byte least seen in the text's start (`find_rare`): a
    plain search of a token absent from megabytes of leftovers (DeepSpeed-Chat's latency lines, once per kind) runs
    at ~1.5 GB/s here, memchr on a byte they lack at ~20 GB/s. The same answer either way."""
    if len(text) <= sample or len(token) < 2:
        return token in text
    return find_rare(text, token, rarest(text, token, sample)) >= 0


def rarest(text: bytes, token: bytes, sample: int = 1 << 13) -> int:
    """The index in `token` of its byte least seen in the start of `text` (for `find_rare`)."""
    count = text.count
    return min({c: i for i, c in enumerate(token)}.values(), key=lambda i: count(token[i:i + 1], 0, sample))


def is_number(text: bytes) -> bool:
    return _NUMBER.match(text) is not None


def block_floats(keys: list, cols: dict) -> dict:
    """`floats` of every column of a block (key -> (values, mask or None)): the columns of one printed layout by
    `decimals`, the others together by one `bulkfloat` call where they are all plain decimal numbers (then
    column by column), the rest by `floats`."""
    out, rest = {}, []
    pre = {}  # key -> its texts joined by `decimals` where it joined them and did not read them
    for key in keys:
        col = cols[key]
        # a group no record holds: what `floats` makes of it, at once (`count(None)` of a column of texts costs ~60 ns
        # a text, each compared with None the slow way: asked only where the first is None)
        if col and col[0] is None and col.count(None) == len(col):
            out[key] = (np.full(len(col), NAN), np.zeros(len(col), dtype=bool))
            continue
        values, joined = decimals.read_joined(col) if len(col) >= decimals.MIN_ROWS else (None, None)
        if values is not None:
            out[key] = (values, None)
        else:
            rest.append(key)
            if joined is not None:
                pre[key] = joined
    if sum(len(cols[k]) for k in rest) >= bulkfloat.MIN_VALUES:
        got = bulkfloat.read([cols[k] for k in rest], [pre.get(k) for k in rest])
        if got is not None:
            out.update((k, (v, None)) for k, v in zip(rest, got))
            return out
        if len(rest) > 1:  # one column's `nan` or unit spoils the lot: the others may still be plain
            for key in [k for k in rest if len(cols[k]) >= bulkfloat.MIN_VALUES // 4]:  # (big enough alone)
                got = bulkfloat.read([cols[key]], [pre.get(key)])
                if got is not None:
                    out[key] = (got[0], None)
    for key in rest:
        if key not in out:
            out[key] = floats(cols[key], layout=False)
    return out


def floats(texts: list, layout: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
    """Value texts (bytes, or None where a record lacks the value) -> (float64 array, mask of the readable
    ones or None when all are). One C-level pass for the common case; where some text is no number (`---`, a
    unit left on it), those few are found by one regex pass and read one by one (`to_float`). `layout`: try
    `decimals` first (the caller has not)."""
    n = len(texts)
    if not n:
        return np.zeros(0), None
    if layout and n >= decimals.MIN_ROWS:  # one printed layout (`%.4f`): every digit at once, the values float() gives
        values = decimals.read(texts)
        if values is not None:
            return values, None
    try:  # the common case first: every text a plain number (a None or a bad text raises, and is handled below)
        return np.fromiter(map(float, texts), dtype=np.float64, count=n), None
    except (ValueError, TypeError, OverflowError):
        pass
    nones = texts.count(None)
    if nones == n:
        return np.full(n, NAN), np.zeros(n, dtype=bool)
    if nones:
        present = np.fromiter((t is not None for t in texts), dtype=bool, count=n)
        vals, ok = floats([t for t in texts if t is not None])
        out = np.full(n, NAN)
        out[present] = vals
        if ok is not None:
            present[np.flatnonzero(present)[~ok]] = False
        return out, present
    try:
        joined = b"\n".join(texts)
    except TypeError:
        joined = b"\n".join(t if isinstance(t, bytes) else str(t).encode() for t in texts)
    bad, line, pos = [], 0, 0
    for m in _NOT_A_NUMBER.finditer(joined):  # the lines that are no plain number
        line += joined.count(b"\n", pos, m.start())
        pos = m.start()
        bad.append(line)
    ok = np.ones(n, dtype=bool)
    ok[bad] = False
    out = np.zeros(n)
    good = [t for t, g in zip(texts, ok) if g] if bad else texts
    try:
        out[ok] = np.fromiter(map(float, good), dtype=np.float64, count=len(good))
    except (ValueError, TypeError, OverflowError):  # a float() oddity the regex let through: one by one
        conv = [to_float(t.decode("ascii", "replace")) if isinstance(t, bytes) else to_float(t) for t in texts]
        ok = np.array([c is not None for c in conv], dtype=bool)
        return np.array([c if c is not None else 0.0 for c in conv], dtype=np.float64), ok
    for i in bad:  # `74.98%`, ` 0.5` and the like: what to_float makes of them
        v = to_float(texts[i].decode("ascii", "replace")) if isinstance(texts[i], bytes) else to_float(texts[i])
        if v is not None:
            out[i], ok[i] = v, True
    return out, (None if ok.all() else ok)


# ------------------------------------------------------------------------------------------ reading


class Chunks:
    """A file's text in chunks of whole lines: `for raw, line_base, final in Chunks(path)`.

    One buffer of CHUNK bytes is reused for every read; each chunk is its only other copy (a line longer than a
    chunk is carried over to the next read). `line_base` is the number of lines before the chunk; `final` marks
    the file's last piece, whose last line may have no line end. Lines end at `\n`, or at `\r` where a stretch of
    the file has no `\n` (tqdm redraws only). Raises SourceError for an empty file; `truncated` says whether the
    size ceiling stopped the reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.truncated = False
        self.size = 0
        self.feeds: int | None = None  # the line feeds of the piece just yielded, where its reader counted them

    def __iter__(self):
        st = regular_file(self.path)
        line_base = 0
        carry = b""
        buf = bytearray(min(CHUNK, max(st.st_size + 1, 1 << 16)))
        view = memoryview(buf)
        with open_stream(self.path) as f, view:
            while True:
                n = f.readinto(buf)
                self.size += n
                if not n:
                    if carry:
                        yield carry, line_base, True
                    break
                cut = buf.rfind(b"\n", 0, n)
                if cut < 0:
                    cut = buf.rfind(b"\r", 0, n)
                if cut >= 0:
                    piece = b"".join((carry, view[:cut + 1]))
                    carry = bytes(view[cut + 1:n])
                else:  # no line end in a whole buffer: keep reading (up to a ceiling)
                    carry = carry + bytes(view[:n])
                    if len(carry) < 4 * CHUNK:
                        continue
                    piece, carry = carry, b""
                yield piece, line_base, False
                line_base += piece.count(b"\n") if self.feeds is None else self.feeds
                self.feeds = None
                del piece
            self.truncated = f.truncated
        if self.size == 0:
            raise SourceError(f"{self.path}: empty file")


# ------------------------------------------------------------------------------------------ record kinds


@dataclass
class Kind:
    """One record type of a format.

    head      bytes regex: the record's start token and fixed fields as named groups (no unnamed groups).
    pair      bytes regex over the body with groups (key, value): one `name: value` item. None: no body.
    tail      what ends a record (default: the end of the line).
    eval      every metric of this kind is an evaluation metric.
    step      fields (head fields and raw body keys -> float arrays) -> step array; None: the record takes the
              step of the record before it in the file (a reward line after DeepSpeed-Chat's loss line).
    keys      raw key -> the key the ontology sees (renames, repairs); None drops it.
    other     what a non-numeric value (mmengine's `eta: 3 days, 3:30:35`) may be, in a shape.
    """

    name: str
    head: bytes
    pair: bytes | None = None
    tail: bytes = LINE_END
    eval: bool = False
    step: Callable[[dict], np.ndarray] | None = None
    keys: Callable[[str], str | None] | None = None
    other: bytes = rb"\S*?"
    incomplete: bytes | None = None  # regex searched in a record's text: found means the record was cut short
    lenient: bool = False  # text between the pairs is not damage (the generic reader: units, unnamed values)
    token: bytes | None = None  # a literal every record of this kind holds (default: the head's literal start)
    uses: tuple[str, ...] = ()  # body keys `step` reads although they are not metrics (`global_step`)
    guard: bytes = b""  # a lookahead the finder checks after the head (a learned shape's literal text pins it)
    metrics: tuple[tuple[str, str], ...] = ()  # head fields that are also metrics: (field, key the ontology sees)

    # The regexes are compiled when a file of this kind's format is read, not at import: every text reader's
    # kinds together were ~100 patterns compiled at each start (tests/test_lazy_regex.py compiles them all).

    def __post_init__(self) -> None:
        if self.token is None:
            self.token = _literal_start(self.head)

    @cached_property
    def fields(self) -> tuple[str, ...]:
        head = re.compile(self.head)
        fields = tuple(sorted(head.groupindex, key=head.groupindex.get))
        if head.groups != len(fields):
            raise ValueError(f"{self.name}: head groups must all be named")
        return fields

    @cached_property
    def find(self) -> re.Pattern:
        """A record as the finder takes it: up to the end of its line, or up to its tail (a tqdm bar's `]`)."""
        rest = rb"[^\n\x1e\x1f]*" if self.tail == LINE_END else rb"[^\n\x1e\x1f]*?(?:" + self.tail + rb")"
        return re.compile(rb"(?:" + self.head + rb")" + self.guard + rest, re.M)

    @cached_property
    def lead(self) -> bytes:
        """What every match of `find` starts with (`literal_lead`), where it is 3 bytes or more."""
        lead = literal_lead(self.find.pattern, self.find.flags)
        return lead if len(lead) >= 3 else b""

    def finditer(self, text: bytes):
        """`find.finditer(text)`. Where every match starts with a literal (`lead`, the kinds' start tokens), that
        literal is found by memchr on its byte least seen in the text's start (`find_rare`, as `holds` finds it;
        the regex engine's scan for a literal looks at every byte, as `bytes.find` does) and the regex matched there
        only: the leftmost match is at the first place of the literal where it matches, and a match there is the
        one a search finds (`^`, `\\A` and lookbehinds see the whole text either way). Where most places of the
        literal hold no match, the engine's own scan takes over from there."""
        lead = self.lead
        if not lead:
            yield from self.find.finditer(text)
            return
        rare, match = rarest(text, lead), self.find.match
        p, missed = find_rare(text, lead, rare), 0
        while p >= 0:
            m = match(text, p)
            if m is None:
                missed += 1
                if missed >= 64:  # (a literal seen often without a record: each try costs a call)
                    yield from self.find.finditer(text, p + 1)
                    return
                p = find_rare(text, lead, rare, p + 1)
            else:
                yield m
                p = find_rare(text, lead, rare, m.end())

    @cached_property
    def record(self) -> re.Pattern:
        return re.compile(rb"(?:" + self.head + rb")" + self.guard + rb"(?P<_body>[^\n\x1e]*?)(?:" + self.tail
                          + rb")", re.M)

    @cached_property
    def pairs(self) -> re.Pattern | None:
        return re.compile(self.pair) if self.pair else None

    @cached_property
    def kg(self) -> int:
        """The key's group of `pairs`: named `key` where a format writes the value first, else group 1."""
        named = self.pairs.groupindex if self.pairs is not None else {}
        return named["key"] if "key" in named else 1

    @cached_property
    def vg(self) -> int:
        named = self.pairs.groupindex if self.pairs is not None else {}
        return named["value"] if "key" in named else 2

    @cached_property
    def cut(self) -> re.Pattern | None:
        return re.compile(self.incomplete) if self.incomplete else None


@dataclass
class Row:
    """A record parsed the slow way."""

    fields: dict  # head field -> float
    values: dict  # raw key -> bytes of a numeric value
    spans: list  # (key, value start, value end, numeric) in the record text
    damaged: bool = False
    body: tuple[int, int] = (0, 0)


def parse(kind: Kind, text: bytes, cut: bool = False) -> Row | None:
    """One record the slow way: its head fields and every readable pair. `cut`: the file ends inside this
    record, so its last pair may be cut short and is dropped."""
    if _JOIN in text:  # a wrapped record: its pieces joined as they were printed
        text = text.replace(_JOIN, b"")
    m = kind.record.match(text)
    if m is None:
        return None
    fields = {}
    for name in kind.fields:
        v = m.group(name)
        if cut and v is not None and m.end(name) >= len(text.rstrip()):
            return None  # a field that runs into the cut (a step counter at the line's end: `global_step:3` of 330)
        fields[name] = to_float(v.decode("ascii", "replace")) if v is not None else None
    b0, b1 = m.span("_body")
    values, spans, pos, damaged = {}, [], b0, False
    if kind.pairs is not None:
        for pm in kind.pairs.finditer(text, b0, b1):
            key = pm.group(kind.kg).strip()
            value = pm.group(kind.vg).strip()
            gap = text[pos:pm.start()].strip(b" \t-|,;")
            damaged |= bool(gap) and not kind.lenient
            try:
                k = key.decode("utf-8")
            except UnicodeDecodeError:
                damaged = True
                continue
            numeric = is_number(value)
            if numeric:
                values[k] = value
            spans.append((k, pm.start(kind.vg), pm.end(kind.vg), numeric))
            pos = pm.end()
        rest = text[pos:b1].strip(b" \t-|,;")
        damaged |= (bool(rest) and not kind.lenient) or (kind.cut is not None and kind.cut.search(text) is not None)
    if cut and spans:
        k = spans[-1][0]
        values.pop(k, None)
        spans.pop()
        damaged = True
    return Row(fields=fields, values=values, spans=spans, damaged=damaged, body=(b0, b1))


class Shape:
    """The regex of one record shape (the literal text of a record with its numeric values captured), and
    the keys of its captures: `split` of a chunk with it yields every record of this shape at once."""

    __slots__ = ("kind", "regex", "keys", "width", "used", "program", "matrix", "prefixed", "redraw")

    def __init__(self, kind: Kind, text: bytes, row: Row, wanted: Callable[[str], bool] = lambda key: True) -> None:
        self.kind = kind
        parts = [rb"(?:", kind.head, rb")"]
        keys = list(kind.fields)
        pos = row.body[0]
        for key, start, end, numeric in row.spans:
            parts.append(_literal(text[pos:start]))
            if numeric and wanted(key):
                parts.append(_VALUE)
                keys.append(key)
            elif numeric:  # bookkeeping (`consumed samples`): matched, not captured
                parts.append(_SKIP)
            else:
                parts.append(rb"(?:" + kind.other + rb")")
            pos = end
        parts.append(_literal(text[pos:row.body[1]]))
        parts.append(rb"(?:" + kind.tail + rb")")
        self.regex = re.compile(b"".join(parts), re.M)
        self.keys = keys
        self.width = 1 + len(keys)  # gap, then one capture per key
        self.used = 0
        self.program = None  # its `linefast` form: None not tried yet, False none (or no gain on this file)
        self.matrix = None  # its `layoutsplit` units' separators and needle: None not tried yet, False none
        self.prefixed = False  # a record of it stood after other text on its line (`Reader.first`)
        self.redraw = None  # its `layoutsplit.take_redraws` walk and lead: None not tried yet, False none

    def ok(self, text: bytes) -> bool:
        m = self.regex.match(text)
        return m is not None and m.end() >= len(text.rstrip(b" \t\n"))


def _literal(text: bytes) -> bytes:
    """The regex of a literal stretch of a record: exact, except that a run of two or more blanks (padding of
    right-justified numbers: `iteration      100/   10000`, mmengine's two-blank separator) is any run."""
    return b"".join(re.escape(p) if i % 2 == 0 else (rb"[ \t]+" if len(p) > 1 else re.escape(p))
                    for i, p in enumerate(_BLANKS.split(text)))


# ------------------------------------------------------------------------------------------ the reader


@dataclass
class Format:
    """What a format module hands `read`: its kinds, and the hooks of its quirks."""

    name: str  # the source name (SourceData.format)
    kinds: tuple[Kind, ...]
    framework: str | None = None
    dialect: str | None = None
    # A regex matching exactly the line break before a line that continues the record above it (wrapped by a
    # terminal or a paste); such breaks are replaced by one NUL byte, so offsets and line numbers stay.
    join: bytes | None = None
    post: Callable[["Reader", SourceData], None] | None = None  # after the records, before the series
    facts: Callable[["Reader", bytes], None] | None = None  # on the first chunk: startup facts
    scan: Callable[["Reader", bytes], None] | None = None  # on every chunk (cheap `in` tests first, please)
    redraws: bool = True  # `\r` separates records (tqdm)
    keep: tuple[str, ...] = ()  # head fields kept per record for `post` (as metrics named `@field`)
    what: str = "records"  # how warnings name the records ("iteration lines", "step lines")
    # A record that the next one repeats exactly (tqdm redraws) may be dropped as it streams: only where `post`
    # does not count records or depend on a repeated record being there (`Reader.drop_repeats`).
    repeats: bool = False
    # With `repeats`: also drop a record that the next one in the file (of the same shape) overwrites: the same step,
    # every value of it readable, and the record before it at a step no higher (so that no restart of the step
    # counter starts at it). Only where `post` reads no head field (`keep`) and counts no record.
    overwrites: bool = False
    # Streamed reading (flat memory): each chunk's records are settled as it ends (steps of the kinds without one
    # from the record before, across chunks) and its values go straight to per-metric (step, value, line) stores
    # with the last value of each step kept; the store of records is emptied again. Valid while the file's steps
    # never go down and the format's `post` would change no step: `stream(reader, steps)` is asked on every chunk
    # (the store holding only that chunk's records, `steps` their steps) and says so; where a chunk says no, or the
    # steps go down, the file is read again from its start the whole way (`post` sees `reader.streamed`). The hook
    # may write the chunk's final steps into `steps` (a bar's epochs), and change or drop the chunk's metrics in the
    # store (`put`, `store.metrics`) and those already streamed (`drop_streamed`); `post` may still raise `Fallback`
    # where what the end of the file says changes what was streamed. With `repeats` and `overwrites` (the step of
    # the chunk before's last record is carried over for it).
    stream: Callable[["Reader", np.ndarray], bool] | None = None

    @cached_property
    def markers_droppable(self) -> bool:
        """Whether the leftovers may be searched without the lines that hold only a taken record's mark: every
        kind's finder stays within a line and finds nothing on such a line (then dropping one changes nothing
        that is found on the others, and their line numbers are carried by `without_marker_lines`)."""
        return all(within_lines(k.find.pattern, k.find.flags) and k.find.search(b"\n" + _TAKEN + b"\n") is None
                   for k in self.kinds)


class _Store:
    """Records in file order (step, line, kind) and per metric (record numbers, values), in compact arrays."""

    def __init__(self) -> None:
        # (`heap.Grow`: past 1 MB a mapping of its own that grows in place; an `array.array` grew by realloc in the C
        # heap, and each move left the old block behind: holes the process kept, more of them the longer the log)
        self.step = Grow("d")
        # 4 bytes a record while every line number fits (a file of 2**31 lines is 2 GB of bare line feeds; then 8)
        self.line = Grow("i")
        self.kind = Grow("b")
        self.metrics: dict[str, Stored] = {}

    def __len__(self) -> int:
        return len(self.step)

    def add(self, name: str, recs: np.ndarray, values: np.ndarray) -> None:
        got = self.metrics.get(name)
        if got is None:
            got = self.metrics[name] = Stored()
        got.add(recs, values)


class Stored:
    """One metric's (record number, value) pairs, appended chunk by chunk to two growable arrays (12 bytes a
    value, `heap.Grow`): read back as numpy views (`arrays`), so the values become the `Series` without a copy. (A
    list of per-chunk arrays concatenated at the end held each metric twice, and small freed arrays left holes in
    the heap that the large arrays built then could not reuse.)"""

    __slots__ = ("idx", "values")

    def __init__(self) -> None:
        self.idx = Grow("i")  # RECORD
        self.values = Grow("d")

    def add(self, recs: np.ndarray, values: np.ndarray) -> None:
        self.idx.frombytes(np.ascontiguousarray(recs, dtype=RECORD))
        self.values.frombytes(np.ascontiguousarray(values, dtype=np.float64))

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        if not len(self.idx):
            return np.zeros(0, dtype=RECORD), np.zeros(0)
        return self.idx.view(RECORD), self.values.view(np.float64)

    def __len__(self) -> int:
        return len(self.idx)


class Fallback(Exception):
    """A streamed reading met what it cannot settle chunk by chunk (`Format.stream`): read the whole way."""


class _Group:
    """Streamed metrics logged on the same records: one (step, line) store for all of them, a value store each;
    the last record of the chunk before waits (`pending`) until the next chunk says whether its step comes again."""

    __slots__ = ("steps", "lines", "values", "pending", "fresh")

    def __init__(self) -> None:
        self.steps = Grow("d")
        self.lines = Grow("q")
        self.values: dict[str, Grow] = {}
        self.pending = None  # (step, line, {name: value})
        self.fresh = True  # made in this chunk, nothing stored yet (new metrics of one chunk may join it)

    def split(self, name: str) -> "_Group":
        """A group of its own for `name` (its records part from the others'), with the history copied."""
        g = _Group()
        for mine, theirs, dtype in ((g.steps, self.steps, np.float64), (g.lines, self.lines, np.int64)):
            if len(theirs):
                v = theirs.view(dtype)
                mine.frombytes(v)
                del v
        g.values[name] = self.values.pop(name)
        if self.pending is not None:
            g.pending = (self.pending[0], self.pending[1], {name: self.pending[2].pop(name)})
        g.fresh = False
        return g

    def add(self, s: np.ndarray, ln: np.ndarray, vals: dict) -> None:
        """The chunk's (steps, lines, values by name) of the group's records, steps never going down."""
        if not len(s):
            return
        if self.pending is not None:
            ps, pl, pv = self.pending
            if ps != s[0]:  # (its step comes again at the chunk's start: the later value is kept)
                self.steps.append(ps)
                self.lines.append(pl)
                for name, g in self.values.items():
                    g.append(pv[name])
        keep = np.empty(len(s), dtype=bool)
        np.not_equal(s[1:], s[:-1], out=keep[:-1])
        keep[-1] = False
        self.pending = (float(s[-1]), int(ln[-1]), {name: float(v[-1]) for name, v in vals.items()})
        if keep.all():
            keep = None
        for store, x in ((self.steps, s), (self.lines, ln)):
            store.frombytes(np.ascontiguousarray(x[:-1] if keep is None else x[keep]))
        for name, v in vals.items():
            self.values[name].frombytes(np.ascontiguousarray(v[:-1] if keep is None else v[keep], dtype=np.float64))
        self.fresh = False

    def close(self) -> None:
        if self.pending is not None:
            ps, pl, pv = self.pending
            self.steps.append(ps)
            self.lines.append(pl)
            for name, g in self.values.items():
                g.append(pv[name])
            self.pending = None


class Reader:
    """One pass over one file with one `Format`."""

    def __init__(self, path: Path, fmt: Format, stream: bool = True) -> None:
        self.path = path
        self.fmt = fmt
        self.src = SourceData(path=path, format=fmt.name)
        if fmt.framework:
            self.src.hints["framework"] = fmt.framework
        self.store = _Store()
        self.names = MetricNames(fmt.dialect)
        self.kind_index = {k.name: i for i, k in enumerate(fmt.kinds)}
        self.shapes: dict[str, list[Shape]] = {k.name: [] for k in fmt.kinds}
        self.signatures: set = set()  # the patterns of the shapes learned
        self.primaries: list[Shape] = []  # the shapes applied to a whole chunk, most used first
        self.damaged: list[int] = []  # lines of records kept with pairs missing
        self.bad_records: list[int] = []  # record numbers of those (a hook must not read a missing key there)
        self.cut = False
        self.repeated = 0  # records dropped as repeats of the next (`Format.repeats`)
        self.join = re.compile(fmt.join, re.M) if fmt.join else None
        self.total: float | None = None
        self.extra: dict = {}  # for the format's hooks
        self.misses: dict = {}  # id(shape) -> chunks in a row its templates took less than its split (`fast`)
        self.streamed = stream and fmt.stream is not None  # (`Format.stream`)
        self.flushed = 0  # records settled and let go of (streamed)
        self.groups: list[_Group] = []  # (streamed) the metrics' stores
        self.group_of: dict[str, _Group] = {}
        self.carry_own = NAN  # (streamed) the step of the last record with its own step, for those without one
        self.carry_rise = -np.inf  # (streamed) the last step that is not NaN
        self.last_raw = NAN  # (streamed) the last record's own step (`Kind.step`), for `chunk_steps`

    @property
    def records(self) -> int:
        """Records read so far (streamed: also those settled and let go of)."""
        return self.flushed + len(self.store)

    def metric_names(self) -> list[str]:
        """The names of the metrics read (not the head fields `@...`)."""
        names = list(self.group_of) if self.streamed else []
        return names + [n for n in self.store.metrics if not n.startswith("@") and n not in self.group_of]

    # ------------------------------------------------------------ chunks

    def run(self) -> SourceData:
        if not self.streamed:
            return self.read_all()
        try:
            return self.read_all()
        except Fallback:
            pass
        # (after the `except`: its traceback, which holds the first pass's chunk and file, is gone)
        self.groups, self.group_of = [], {}
        return Reader(self.path, self.fmt, stream=False).read_all()

    def read_all(self) -> SourceData:
        stream = Chunks(self.path)
        for raw, line_base, final in stream:
            cut = raw.find(b"\n", SAMPLE) + 1 if not self.primaries and len(raw) > 4 * SAMPLE else 0
            before = 0
            if cut:  # learn the shapes on the file's start, so that the rest of the chunk is read by them
                self.chunk(raw[:cut], line_base)
                before = raw.count(b"\n", 0, cut)
                line_base += before
                raw = raw[cut:]
            feeds = self.chunk(raw, line_base, final)
            if feeds is not None:  # (the stream need not count them again)
                stream.feeds = before + feeds
        if stream.truncated:
            self.src.warnings.append(f"{self.path.name}: read up to the size ceiling (KTO_DOCTOR_MAX_FILE_BYTES); "
                                     "the rest of the file was not read")
        return self.finish()

    def chunk(self, raw: bytes, line_base: int, final: bool = False) -> int | None:
        """Every record of a chunk of whole lines (`final`: the file's last line, maybe without its end). Returns
        the line feeds of `raw` where a whole-chunk shape's split counted them (None where none took a record).

        Records are placed by line: a record holds no line feed (a wrapped one's are NUL bytes by now), so the
        line of the i-th record a whole-chunk shape takes is the line feeds in the gaps before it; what it took
        is replaced by one byte, so the next shape and the finders see the rest with its line feeds."""
        if line_base == 0 and self.fmt.facts is not None:
            self.fmt.facts(self, raw)
        if self.fmt.scan is not None:
            self.fmt.scan(self, raw)
        text = redraws_marked(raw) if self.fmt.redraws and b"\r" in raw else raw
        joins = None  # the logical line (line feeds before it) of every line break joined away
        if self.join is not None:
            where = [m.start() for m in self.join.finditer(text)]
            if where:
                buf = bytearray(text)
                for pos in where:
                    buf[pos] = 0
                text = bytes(buf)
                prev, count, logical = 0, 0, []
                for pos in where:
                    count += text.count(b"\n", prev, pos)
                    prev = pos
                    logical.append(line_base + 1 + count)
                joins = np.asarray(logical, dtype=np.int64)
        counted = None
        blocks: list[tuple] = []  # (kind, lines, positions, keys, columns, slow)
        taken = 0  # records the primary shapes took (each left one mark in the text)
        for shape in self.primaries:  # each takes its records out of the text; the rest goes on
            if shape is self.primaries[0]:
                fast = self.first(shape, text, line_base)
                if fast is not None:
                    block, text, feeds, n = fast
                    counted = feeds + (len(joins) if joins is not None else 0)
                    shape.used += n
                    blocks.append(block)
                    taken += n
                    continue
            parts = shape.regex.split(text)
            w = shape.width
            n = (len(parts) - 1) // w
            if not n:
                continue
            gaps = parts[0::w]
            left = _TAKEN.join(gaps)
            before = feeds_before(gaps, left, fresh=not taken)
            lines = line_base + 1 + before  # a record holds no line feed: its line is the gaps'
            if counted is None:  # every line feed of the text is in a gap; a joined one was one too
                counted = int(before[-1]) + gaps[-1].count(b"\n") + (len(joins) if joins is not None else 0)
            shape.used += n
            cols = {key: parts[1 + j::w] for j, key in enumerate(shape.keys)}
            blocks.append((shape.kind, lines, np.full(n, -1, dtype=np.int64), shape.keys, cols, False))
            text = left
            taken += n
        open_end = final and not text.endswith((b"\n", b"\x1e"))
        if taken * 16 >= len(text) and self.fmt.markers_droppable:  # mostly the marks of taken records
            gaps, starts = without_marker_lines(text, line_base + 1)
            blocks += self.leftovers(gaps, np.asarray(starts, dtype=np.int64), open_end)
        else:
            blocks += self.leftovers([text], np.full(1, line_base + 1, dtype=np.int64), open_end)
        if blocks and joins is not None:  # logical lines -> the file's lines: each earlier join was a line feed
            blocks = [(b[0], b[1] + np.searchsorted(joins, b[1], side="left")) + b[2:] for b in blocks]
            self.damaged = [d + int(np.searchsorted(joins, d, side="left")) if d > line_base else d
                            for d in self.damaged]
        if blocks:
            self.store_blocks(blocks)
            if self.streamed:
                self.flush()
        shapes = sorted((s for ss in self.shapes.values() for s in ss), key=lambda s: -s.used)
        total = sum(s.used for s in shapes)
        self.primaries = [s for s in shapes if s.used and s.used >= min(64, total) and s.used * 20 >= total][:4]
        for s in shapes:
            s.used = 0
        return counted

    def first(self, shape: Shape, text: bytes, line_base: int):
        """The primary shape's records by `matrix` or `fast`, or None where neither applies. Where both may apply
        (the generic reader's `[Ii]ter` shapes), the byte matrices are tried first, being the cheaper (a split of
        the text left only): their result is the templates' wherever every record starts its line, since a
        template drops only the text before a record on its line (the prefix) with the record, so the texts left
        are then the same. On a file whose records have such prefixes (timestamps before `iter`), `fast` is taken
        from then on, as before."""
        if shape.program is False or shape.prefixed:
            return self.fast(shape, text, line_base) or self.matrix(shape, text, line_base)
        got = self.matrix(shape, text, line_base)
        if got is not None:
            left = np.frombuffer(got[1], dtype=np.uint8)
            marks = np.flatnonzero(left == _TAKEN[0])
            if (left[marks[marks > 0] - 1] == 10).all():  # (a record at the text's start: the split's too)
                return got
            shape.prefixed = True
        return self.fast(shape, text, line_base) or got

    def fast(self, shape: Shape, text: bytes, line_base: int):
        """The records of `shape` in `text` as its split takes them, most by the split of a template's literal
        regex (`linefast`: the lines of the first record's layout), the rest by the shape's own split of what
        that left: (block, the text with each record replaced by the mark, its line feeds, records), or None
        where no template applies (then nothing was taken)."""
        prog = shape.program
        if prog is None:
            pattern, flags = shape.regex.pattern, shape.regex.flags
            prog = shape.program = (within_lines(pattern, flags) and linefast.compile_shape(pattern, flags)) or False
        if prog is False or b"\x1e" in text:
            return None
        keys, w = shape.keys, shape.width
        found = []  # per template: (lines, columns)
        left = text
        needle = prog.needle  # (every match holds it: where it is not, nothing is left to search)
        m = shape.regex.search(text)
        for _ in range(linefast.MAX_TEMPLATES):
            tmpl = prog.template(left, m) if m is not None else None
            if tmpl is None:
                break
            rx = tmpl.regex()
            parts = rx.split(left)  # each match holds the line feed before its record
            tw = 1 + rx.groups
            n = (len(parts) - 1) // tw
            if not n:
                break
            gaps = parts[0::tw]
            # the line feeds before each record: the gaps' (between two records of consecutive lines a gap is
            # empty) and the one before each record up to it
            left = (_NL + _TAKEN).join(gaps)
            before = np.arange(1, n + 1, dtype=np.int64)
            full = list(compress(range(n), gaps[:-1]))  # (the gaps that are not empty, found in C)
            if len(full) * 8 > n:  # other lines between most records: the line feeds of `left` before each mark
                marks = np.cumsum(np.fromiter(map(len, gaps), dtype=np.int64, count=n + 1)[:-1]) + 2 * before - 1
                before = np.searchsorted(np.flatnonzero(np.frombuffer(left, dtype=np.uint8) == 10), marks)
            elif full:
                feeds = np.zeros(n, dtype=np.int64)
                feeds[full] = [gaps[i].count(_NL) for i in full]
                before += np.cumsum(feeds)
            texts = iter(parts[1 + j::tw] for j in range(rx.groups))
            captured = {gid: next(texts) for gid in sorted(v[3] for v in tmpl.segments if v[3] is not None)}
            cols = {key: captured[j + 1] if j + 1 in captured else [None] * n for j, key in enumerate(keys)}
            found.append((before.astype(np.int64), cols))
            m = shape.regex.search(left) if needle is None or needle in left else None
        if not found:
            self.miss(shape)
            return None
        # what the templates left: read as before
        parts = shape.regex.split(left) if needle is None or needle in left else [left]
        n2 = (len(parts) - 1) // w
        if n2:
            gaps = parts[0::w]
            left = _TAKEN.join(gaps)
            found.append((feeds_before(gaps, left), {key: parts[1 + j::w] for j, key in enumerate(keys)}))
        n1 = sum(len(b) for b, _ in found) - n2
        if n2 > n1:  # the templates took less than the split
            self.miss(shape)
        else:
            self.misses.pop(id(shape), None)
        # every column converted per part (a value's float does not depend on the texts beside it), in file order
        lines = np.concatenate([b for b, _ in found])
        order = np.argsort(lines, kind="stable")
        conv = [block_floats(keys, cols) for _, cols in found]
        values = {}
        for key in keys:
            vs = [c[key] for c in conv]
            ok = None
            if any(o is not None for _, o in vs):
                ok = np.concatenate([np.ones(len(v), dtype=bool) if o is None else o for v, o in vs])[order]
            values[key] = (np.concatenate([v for v, _ in vs])[order], ok)
        n = len(lines)
        block = (shape.kind, line_base + 1 + lines[order], np.full(n, -1, dtype=np.int64), keys, values, None)
        return block, left, left.count(_NL), n

    def matrix(self, shape: Shape, text: bytes, line_base: int):
        """`fast` by byte matrices (`layoutsplit`): the records of the units of one layout read from their bytes,
        the rest by the shape's split of what they left. The same records, marks and text left as the split of
        `text` (no byte of `text` may be a mark already: the marks tell the two kinds of record apart)."""
        if shape.matrix is None:
            seps = layoutsplit.program(shape.regex.pattern, shape.regex.flags)
            shape.matrix = (seps, lazyre.needle(shape.regex.pattern, shape.regex.flags)) if seps else False
        if shape.matrix is False or _TAKEN in text:
            return None
        seps, needle = shape.matrix
        if layoutsplit.RS not in seps and self.redrawn(text):
            return self.matrix_redraws(shape, text, line_base)
        got = layoutsplit.take(shape, text, seps)
        if got is None:
            self.miss_matrix(shape)
            return None
        starts, ends, mvalues = got
        n1 = len(starts)
        left = marked(text, starts, ends)
        keys, w = shape.keys, shape.width
        parts = shape.regex.split(left) if needle is None or needle in left else [left]
        n2 = (len(parts) - 1) // w
        if n2:
            gaps = parts[0::w]
            rem = np.cumsum(np.fromiter(map(len, gaps), dtype=np.int64, count=n2 + 1)[:-1]) + np.arange(n2)
            left = _TAKEN.join(gaps)
        buf = np.frombuffer(left, dtype=np.uint8)
        marks = np.flatnonzero(buf == _TAKEN[0])  # every record's, in file order
        if len(marks) != n1 + n2:  # pragma: no cover (cannot be: the text held no mark)
            raise AssertionError("layoutsplit: marks lost")
        lines = line_base + 1 + np.searchsorted(np.flatnonzero(buf == 10), marks)
        if n1 < 4 * n2:  # (a fifth or more left to the split: both ways paid for)
            self.miss_matrix(shape)
        else:
            self.misses.pop(("matrix", id(shape)), None)
        if not n2:
            return (shape.kind, lines, np.full(n1, -1, dtype=np.int64), keys, mvalues, None), left, \
                int(np.count_nonzero(buf == 10)), n1
        mine = np.ones(n1 + n2, dtype=bool)
        mine[np.searchsorted(marks, rem)] = False
        values = _merged(keys, mine, mvalues, block_floats(keys, {key: parts[1 + j::w] for j, key in enumerate(keys)}))
        block = (shape.kind, lines, np.full(n1 + n2, -1, dtype=np.int64), keys, values, None)
        return block, left, int(np.count_nonzero(buf == 10)), n1 + n2

    @staticmethod
    def redrawn(text: bytes, sample: int = 1 << 16) -> bool:
        """Whether the text's start holds many redraws a line (a tqdm bar redrawn by `\\r` alone): its lines are
        long and no two alike, so its units for the byte matrices are the redraws (`matrix_redraws`)."""
        return text.count(b"\x1e", 0, sample) > 8 * (text.count(b"\n", 0, sample) + 1)

    def matrix_redraws(self, shape: Shape, text: bytes, line_base: int):
        """`matrix` where the shape's classes may run over a redraw (`program` gives line units) and the text is
        mostly redraws: its units are the redraws, each layout proven by `layoutsplit.take_redraws`, the rest found
        by the engine at the places of the shape's lead. The same records, marks and text left as the split."""
        if shape.redraw is None:
            pattern, flags = shape.regex.pattern, shape.regex.flags
            lead = layoutsplit.redraw_lead(pattern, flags)
            shape.redraw = (layoutsplit.Walk(pattern, flags), lead) if lead else False
        if shape.redraw is False:
            return None
        got = layoutsplit.take_redraws(shape, text, *shape.redraw)
        if got is None:
            self.miss_matrix(shape)
            return None
        (s1, e1, mvalues), (s2, e2, rtexts) = got
        n1, n2 = len(s1), len(s2)
        keys = shape.keys
        if n2:
            starts, ends = np.concatenate([s1, s2]), np.concatenate([e1, e2])
            order = np.argsort(starts, kind="stable")
            starts, ends = starts[order], ends[order]
            mine = order < n1
        else:
            starts, ends, mine = s1, e1, None
        left = marked(text, starts, ends)
        buf = np.frombuffer(left, dtype=np.uint8)
        marks = np.flatnonzero(buf == _TAKEN[0])
        if len(marks) != n1 + n2:  # pragma: no cover (cannot be: the text held no mark)
            raise AssertionError("layoutsplit: marks lost")
        feeds = np.flatnonzero(buf == 10)
        lines = line_base + 1 + np.searchsorted(feeds, marks)
        if n1 < 4 * n2:  # (a fifth or more found by the engine: both ways paid for)
            self.miss_matrix(shape)
        else:
            self.misses.pop(("matrix", id(shape)), None)
        values = mvalues if mine is None else _merged(keys, mine, mvalues, block_floats(keys, rtexts))
        block = (shape.kind, lines, np.full(n1 + n2, -1, dtype=np.int64), keys, values, None)
        return block, left, len(feeds), n1 + n2

    def miss_matrix(self, shape: Shape) -> None:
        """A chunk where the byte matrices took less than four fifths of the shape's records: after three in a row
        the layouts are not worth their cost on this file (every line its own: Python reprs of varying width)."""
        key = ("matrix", id(shape))
        got = self.misses[key] = self.misses.get(key, 0) + 1
        if got >= 3:
            shape.matrix = False

    def miss(self, shape: Shape) -> None:
        """A chunk where the templates took less than the shape's split: after three in a row they are not worth
        their cost on this file (line layouts change on every line: timestamps, progress counters)."""
        got = self.misses[id(shape)] = self.misses.get(id(shape), 0) + 1
        if got >= 3:
            shape.program = False

    def leftovers(self, gaps: list, gap_lines: np.ndarray, open_end: bool) -> list:
        """Records the primary shape did not take: found in the gaps, read by the other shapes or one by one.
        `open_end`: the file ends without a line end, so a record reaching its end may be cut."""
        joined = gaps[0] if len(gaps) == 1 else b"\n".join(gaps)
        # each kind's own regex (a literal start token is searched at memchr speed; an alternation of all kinds
        # would try every kind at every byte), and only where its token occurs at all
        spans = [(m.start(), m.end(), k) for k, kind in enumerate(self.fmt.kinds)
                 if kind.token is None or holds(joined, kind.token) for m in kind.finditer(joined)]
        if not spans:
            return []
        if len(self.fmt.kinds) > 1:  # one record per stretch of text: the one that starts first
            spans.sort()
            kept, reach = [], -1
            for span in spans:
                if span[0] >= reach:
                    kept.append(span)
                    reach = span[1]
            spans = kept
        if len(gaps) == 1:
            gi = np.zeros(len(spans), dtype=np.int64)
            starts = np.zeros(1, dtype=np.int64)
        else:
            lens = np.fromiter(map(len, gaps), dtype=np.int64, count=len(gaps)) + 1
            starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
            gi = np.searchsorted(starts, [a for a, _, _ in spans], side="right") - 1
        found: dict[int, tuple[list, list, list]] = {}  # kind index -> (lines, positions, texts)
        count = joined.count
        prev_g, prev_a, line = -1, 0, 0
        for (a, b, k), g in zip(spans, gi.tolist()):  # spans in text order: line feeds counted once
            if g != prev_g:
                line, prev_a, prev_g = int(gap_lines[g]), int(starts[g]), g
            line += count(b"\n", prev_a, a)
            prev_a = a
            entry = found.setdefault(k, ([], [], []))
            entry[0].append(line)
            entry[1].append(a)
            entry[2].append(joined[a:b])
        last_end = max(b for _, b, _ in spans)
        blocks = []
        for k, (lines, pos, texts) in found.items():
            cut_last = open_end and last_end == len(joined) and texts[-1] == joined[-len(texts[-1]):]
            blocks += self.cascade(self.fmt.kinds[k], lines, pos, texts, cut_last)
        return blocks

    def cascade(self, kind: Kind, lines: list, pos: list, texts: list, cut_last: bool) -> list:
        """Records of one kind: the learned shapes first (one split each); the first record no shape takes is
        parsed alone and its shape learned, then tried on the rest; what no shape takes is read one by one."""
        blocks = []
        lines = np.asarray(lines, dtype=np.int64)
        pos = np.asarray(pos, dtype=np.int64)
        idx = np.arange(len(texts))
        last = len(texts) - 1 if cut_last else -1
        tried: set = set()
        rows: list = []  # (line, row) of the records read one by one
        while len(idx):
            for shape in self.shapes[kind.name]:
                if id(shape) in tried or not len(idx):
                    continue
                tried.add(id(shape))
                taken = self.apply(shape, texts, lines, pos, idx, last)
                if taken is not None:
                    block, keep = taken
                    blocks.append(block)
                    idx = idx[keep]
            if not len(idx):
                break
            i, idx = int(idx[0]), idx[1:]
            row = self.one(kind, texts[i], int(lines[i]), i == last)
            if row is not None:
                rows.append((int(lines[i]), int(pos[i]), row))
        if rows:
            blocks.append(self.slow_block(kind, rows))
        return blocks

    def apply(self, shape: Shape, texts: list, lines: np.ndarray, pos: np.ndarray, idx: np.ndarray, last: int):
        """The records among texts[idx] that `shape` reads whole: (block, mask of idx left), or None."""
        sub = [texts[i] for i in idx]
        joined = b"\n".join(sub)
        parts = shape.regex.split(joined)
        w = shape.width
        n = (len(parts) - 1) // w
        if not n:
            return None
        gaps = parts[0::w]
        # the record a match is in: line feeds before it; taken whole when the gaps around it are only the
        # line feeds between records (a shape may match the start of a longer, damaged record)
        feeds = np.fromiter(map(bytes.count, gaps, repeat(b"\n")), dtype=np.int64, count=n + 1)
        before = np.cumsum(feeds[:-1])
        starts_line = [g.endswith(b"\n") for g in gaps[:-1]]
        starts_line[0] = starts_line[0] or gaps[0] == b""
        ends_line = [g.startswith(b"\n") for g in gaps[1:]]
        ends_line[-1] = ends_line[-1] or gaps[-1] == b""
        full = np.array(starts_line, dtype=bool) & np.array(ends_line, dtype=bool)
        if last >= 0:
            full &= idx[before] != last
        if not full.any():
            return None
        taken = before[full]
        cols = {key: [c for c, ok in zip(parts[1 + j::w], full) if ok] for j, key in enumerate(shape.keys)}
        shape.used += len(taken)
        keep = np.ones(len(idx), dtype=bool)
        keep[taken] = False
        return (shape.kind, lines[idx[taken]], pos[idx[taken]], shape.keys, cols, False), keep

    def one(self, kind: Kind, text: bytes, line: int, cut: bool) -> Row | None:
        """One record the slow way (and its shape learned, when it is a new one)."""
        row = parse(kind, text, cut=cut)
        if row is None:
            return None
        if cut:
            self.cut = True
        if row.damaged:
            self.damaged.append(line)
        elif len(self.shapes[kind.name]) < MAX_SHAPES:
            self.learn(kind, text, row)
        return row

    def slow_block(self, kind: Kind, rows: list) -> tuple:
        keys = list(kind.fields)
        seen = set(keys)
        for _, _, row in rows:
            for k in row.values:
                if k not in seen:
                    seen.add(k)
                    keys.append(k)
        cols = {key: [r.fields.get(key) for _, _, r in rows] if key in kind.fields
                else [r.values.get(key) for _, _, r in rows] for key in keys}
        cols[_DAMAGED] = [r.damaged for _, _, r in rows]
        return (kind, np.asarray([ln for ln, _, _ in rows], dtype=np.int64),
                np.asarray([p for _, p, _ in rows], dtype=np.int64), keys, cols, True)

    def learn(self, kind: Kind, text: bytes, row: Row) -> None:
        if _JOIN in text:
            return
        try:
            shape = Shape(kind, text, row, lambda key: key in kind.uses or self.metric_name(kind, key) is not None)
        except re.error:
            return
        if shape.regex.pattern in self.signatures or not shape.ok(text):
            return
        self.signatures.add(shape.regex.pattern)
        self.shapes[kind.name].append(shape)

    # ------------------------------------------------------------ storing

    def store_blocks(self, blocks: list) -> None:
        """Number the chunk's records in file order, convert each column once, keep (record, value) arrays."""
        lines = np.concatenate([b[1] for b in blocks])
        # file order: by line, then (records the primary shape took first) by position in the line
        order = np.lexsort((np.concatenate([b[2] for b in blocks]), lines))
        rank = np.empty(len(lines), dtype=np.int64)
        rank[order] = np.arange(len(lines))
        # every column as floats: (values, mask of the readable ones or None when all are)
        conv = [cols if slow is None else {key: _py_floats(cols[key]) for key in keys} if slow
                else block_floats(keys, cols) for _, _, _, keys, cols, slow in blocks]  # (None: converted)
        keeps: list = [None] * len(blocks)  # per block: the records kept (None: all)
        if self.fmt.repeats:
            keeps = self.repeats(blocks, conv, rank)
            if any(k is not None for k in keeps):
                kept = np.concatenate([np.ones(len(b[1]), dtype=bool) if k is None else k
                                       for b, k in zip(blocks, keeps)])
                order = order[kept[order]]
                rank = np.full(len(lines), -1, dtype=np.int64)
                rank[order] = np.arange(len(order))
        first = len(self.store)
        st = self.store
        steps = np.full(len(order), NAN)
        kinds = np.zeros(len(order), dtype=np.int8)
        start = 0
        for (kind, block_lines, _, keys, cols, slow), values_of, keep in zip(blocks, conv, keeps):
            n = len(block_lines)
            recs = rank[start:start + n]
            start += n
            if keep is not None:
                recs = recs[keep]
                values_of = {key: (v[keep], None if ok is None else ok[keep]) for key, (v, ok) in values_of.items()}
            recs = (recs + first).astype(RECORD)
            kinds[recs - first] = self.kind_index[kind.name]
            if slow and any(cols[_DAMAGED]):
                self.bad_records.extend(recs[np.asarray(cols[_DAMAGED], dtype=bool)].tolist())
            fields = {}
            for key in keys:
                values, ok = values_of[key]
                fields[key] = values if ok is None else np.where(ok, values, NAN)
                if key in kind.fields:
                    if key in self.fmt.keep:
                        st.add("@" + key, recs, fields[key])
                    for field_name, metric_key in kind.metrics:
                        if field_name == key and self.metric_name(kind, metric_key) is not None:
                            st.add(self.metric_name(kind, metric_key), recs if ok is None else recs[ok],
                                   values if ok is None else values[ok])
                    continue
                name = self.metric_name(kind, key)
                if name is None:
                    continue
                if ok is None:
                    st.add(name, recs, values)
                elif ok.any():
                    st.add(name, recs[ok], values[ok])
            if kind.step is not None:
                steps[recs - first] = kind.step(fields)
        st.step.frombytes(steps)
        ln = lines[order]
        if st.line.code == "i" and len(ln) and int(ln.max()) >= 2 ** 31:
            wide = Grow("q")
            wide.frombytes(st.line.view(np.int32).astype(np.int64))
            st.line = wide
        st.line.frombytes(ln.astype(np.int32 if st.line.code == "i" else np.int64))
        st.kind.frombytes(kinds)

    def repeats(self, blocks: list, conv: list, rank: np.ndarray) -> list:
        """Per block, the records to keep (None: all) without those that the next record in the file repeats (a
        tqdm redraw of the same position and postfix): a record of a learned shape whose every capture reads
        the same number as the record right after it in file order, of the same shape, states the same step
        and values, and the later record is the one kept for that step (`Columns.finish`), so the earlier one
        is dropped as it streams instead of stored (NaN equals nothing: kept). Counted in `repeated`."""
        keeps: list = []
        start = 0
        before = self.chunk_steps(blocks, conv, rank) if self.fmt.overwrites else None
        for (kind, block_lines, _, keys, cols, slow), values_of in zip(blocks, conv):
            n = len(block_lines)
            r = rank[start:start + n]
            start += n
            if slow or n < 2:
                keeps.append(None)
                continue
            next_ = r[1:] == r[:-1] + 1  # the next record in the file is the next of this shape
            same = next_.copy()
            for key in keys:
                if not same.any():
                    break
                v, ok = values_of[key]
                if ok is None:
                    same &= v[1:] == v[:-1]
                else:  # both readable and equal, or neither readable
                    same &= (ok[1:] == ok[:-1]) & ((v[1:] == v[:-1]) | ~ok[1:])
            if before is not None and kind.step is not None and next_.any():
                step = before[r + 1]  # (the steps of the chunk's records, one place on: `before[q]` is q - 1's)
                over = next_ & (step[1:] == step[:-1]) & (before[r[:-1]] <= step[:-1])
                for key in keys:
                    ok = values_of[key][1]
                    if ok is not None:
                        over &= ok[1:]
                same |= over
            if not same.any():
                keeps.append(None)
                continue
            self.repeated += int(same.sum())
            keeps.append(np.append(~same, True))
        return keeps

    def chunk_steps(self, blocks: list, conv: list, rank: np.ndarray) -> np.ndarray:
        """The step of the record before each of the chunk's records, and of each, in file order: `out[q]` is the
        step of record q - 1 (out[0]: the store's last record's), NaN for a record that takes the step of the one
        before it (`Kind.step` None: settled in `finish`)."""
        out = np.full(len(rank) + 1, NAN)
        out[0] = self.store.step.view(np.float64)[-1] if len(self.store) else self.last_raw
        start = 0
        for (kind, block_lines, _, keys, _, _), values_of in zip(blocks, conv):
            n = len(block_lines)
            if kind.step is not None:
                fields = {key: v if ok is None else np.where(ok, v, NAN)
                          for key, (v, ok) in values_of.items() if key in kind.fields}
                out[rank[start:start + n] + 1] = kind.step(fields)
            start += n
        return out

    def flush(self) -> None:
        """(Streamed) settle the chunk's records and move their values to the metrics' stores (`Format.stream`)."""
        st = self.store
        n = len(st)
        if not n:
            return
        kinds = self.kinds()
        steps = st.step.view(np.float64).copy()
        inherit = self.fmt_inherit[kinds]
        own = ~inherit & ~np.isnan(steps)
        if inherit.any():  # the step of the closest record before with its own (finish's `take_previous`)
            last = np.where(own, np.arange(n), -1)
            np.maximum.accumulate(last, out=last)
            t = np.flatnonzero(inherit)
            got = last[t]
            steps[t] = np.where(got >= 0, steps[np.maximum(got, 0)], self.carry_own)
            del last, got, t
        w = np.flatnonzero(own)
        if len(w):
            self.carry_own = float(steps[w[-1]])
        del own, inherit, w
        if not self.fmt.stream(self, steps):
            raise Fallback
        self.bad_records = []  # (the chunk's record numbers: the hook has read them, the next chunk numbers from 0)
        ok = ~np.isnan(steps)
        s = steps if ok.all() else steps[ok]
        if len(s):  # a step that goes down (a restart: segments) is the whole way's
            if s[0] < self.carry_rise or (s[1:] < s[:-1]).any():
                raise Fallback
            self.carry_rise = float(s[-1])
        del s
        lines = self.lines()
        empty = np.zeros(0, dtype=RECORD)
        chunk: dict[str, tuple] = {}
        for name in sorted(k for k in st.metrics if not k.startswith("@")):
            idx, vals = self.column(name)
            m = ok[idx]
            if not m.all():
                idx, vals = idx[m], vals[m]
            chunk[name] = (idx, vals)
        for g in list(self.groups):  # metrics whose records part from their group's get one of their own
            lead = None
            for name in list(g.values):
                idx = chunk[name][0] if name in chunk else empty
                if lead is None:
                    lead = idx
                elif not (len(idx) == len(lead) and np.array_equal(idx, lead)):
                    mine = g.split(name)
                    self.groups.append(mine)
                    self.group_of[name] = mine
        fresh: list = []
        for name in chunk:
            if name in self.group_of:
                continue
            idx = chunk[name][0]
            for g in fresh:
                lead = chunk[next(iter(g.values))][0]
                if len(idx) == len(lead) and np.array_equal(idx, lead):
                    break
            else:
                g = _Group()
                fresh.append(g)
                self.groups.append(g)
            g.values[name] = Grow("d")
            self.group_of[name] = g
        for g in self.groups:
            names = list(g.values)
            idx = chunk[names[0]][0] if names[0] in chunk else empty
            if len(idx):
                g.add(steps[idx], lines[idx].astype(np.int64), {name: chunk[name][1] for name in names})
        del chunk, steps, lines, ok
        self.flushed += n
        self.last_raw = float(st.step.view(np.float64)[-1])
        self.store = _Store()

    def drop_streamed(self, name: str) -> None:
        """(Streamed) a metric's values streamed so far let go of (a hook's: `post` would drop the metric)."""
        g = self.group_of.pop(name, None)
        if g is None:
            return
        del g.values[name]
        if g.pending is not None:
            g.pending[2].pop(name, None)
        if not g.values:
            self.groups.remove(g)

    def rename_streamed(self, name: str, new: str) -> None:
        """(Streamed, in `post`) a metric's streamed values under another name."""
        g = self.group_of[new] = self.group_of.pop(name)
        g.values[new] = g.values.pop(name)
        if g.pending is not None and name in g.pending[2]:
            g.pending[2][new] = g.pending[2].pop(name)

    @cached_property
    def fmt_inherit(self) -> np.ndarray:
        return np.array([k.step is None for k in self.fmt.kinds], dtype=bool)

    def finish_streamed(self) -> SourceData:
        src = self.src
        if not self.flushed:
            raise SourceError(f"{self.path}: no {self.fmt.what} found")
        if self.fmt.post is not None:
            self.fmt.post(self, src)
        views = {}  # (one steps and one lines array of each group: its metrics' Series share them)
        for g in self.groups:
            g.close()
            views[id(g)] = (g.steps.view(np.float64), g.lines.view(np.int64))
        for name in sorted(self.group_of):
            g = self.group_of[name]
            if len(g.steps):
                steps, lines = views[id(g)]
                src.series[name] = Series(steps=steps, values=g.values[name].view(np.float64), lines=lines)
        return self.close(src)

    def close(self, src: SourceData) -> SourceData:
        """The records counted, the damage and the cut said: the end of both finishes."""
        src.records = self.records + self.repeated
        if self.damaged:
            src.warnings.append(f"{self.path.name}: {len(self.damaged)} {self.fmt.what} incomplete or damaged (first "
                                f"at line {min(self.damaged)}); their readable values were kept")
        if self.cut:
            src.warnings.append(f"{self.path.name}: the file ends inside a record (cut short); its last value was "
                                "not read")
        if not src.series:
            raise SourceError(f"{self.path}: no metrics in the {self.fmt.what}")
        return src

    def metric_name(self, kind: Kind, key: str) -> str | None:
        cache = self.extra.setdefault("_names", {})
        got = cache.get((kind.name, key), False)
        if got is not False:
            return got
        k = kind.keys(key) if kind.keys is not None else key
        name = None if k is None else self.names[k, kind.eval]
        cache[(kind.name, key)] = name
        return name

    # ------------------------------------------------------------ result

    def column(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """(record numbers, values) of a stored metric or head field (`@field`), in file order."""
        got = self.store.metrics.get(name)
        if got is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        idx, vals = got.arrays()  # views of the store: a hook must not write into them
        if len(idx) > 1 and not (idx[1:] > idx[:-1]).all():
            order = np.argsort(idx, kind="stable")
            idx, vals = idx[order], vals[order]
        return idx, vals

    def put(self, name: str, idx: np.ndarray, values: np.ndarray) -> None:
        """Replace a stored metric (hooks)."""
        got = self.store.metrics[name] = Stored()
        got.add(idx, values)

    def steps(self) -> np.ndarray:
        return self.store.step.view(np.float64).copy() if len(self.store) else np.zeros(0)

    def lines(self) -> np.ndarray:
        """The line of every record (int32 where all fit, else int64: a view of the store)."""
        line = self.store.line
        return line.view(np.int32 if line.code == "i" else np.int64) if len(self.store) \
            else np.zeros(0, np.int64)

    def kinds(self) -> np.ndarray:
        return self.store.kind.view(np.int8) if len(self.store) else np.zeros(0, np.int8)

    def finish(self) -> SourceData:
        if self.streamed:
            return self.finish_streamed()
        src = self.src
        st = self.store
        if not len(st):
            raise SourceError(f"{self.path}: no {self.fmt.what} found")
        # the store's own steps, not a copy (8 bytes a record at the peak): nothing is appended to it any more
        steps = st.step.view(np.float64) if len(st) else np.zeros(0)
        inherit_steps(steps, self.fmt, self.kinds())  # the step of the record before
        self.extra["steps"] = steps
        if self.fmt.post is not None:
            self.fmt.post(self, src)
        for name in [n for n in st.metrics if n.startswith("@")]:  # head fields kept for `post` only
            del st.metrics[name]
        steps = self.extra["steps"]
        lines = self.lines()
        cols = Columns(self.fmt.dialect)
        cols.set_steps(steps, lines)
        cols.finish_segments(src, "the step counter")
        known = steps[~np.isnan(steps)] if np.isnan(steps).any() else steps
        rising = not (known[1:] < known[:-1]).any()  # no restart: no value of an earlier segment to drop
        del known
        # the metrics logged on the same records (mmengine's lr, loss and grad_norm; verl's 28 keys) get the same
        # steps and lines: one pair of arrays for all of them (16 bytes a value of the output, the peak's most)
        same = None  # (record numbers, values kept of them or None for all, steps, lines) of the metric before
        for name in sorted(n for n in st.metrics if not n.startswith("@")):
            idx, vals = self.column(name)
            del st.metrics[name]  # handed over: the store of a metric goes as its Series comes (peak memory)
            if same is not None and len(idx) == len(same[0]) and np.array_equal(idx, same[0]):
                src.series[name] = Series(steps=same[2], values=vals if same[1] is None else vals[same[1]],
                                          lines=same[3])
                del idx, vals
                continue
            same = None
            keep = last_of_each_step(steps, idx) if rising else None
            if keep is not None:  # the values `last_per_step` keeps, gathered alone (no step array of all of them)
                records, kept = idx, None
                if not keep.all():
                    idx, vals, kept = idx[keep], vals[keep], keep
                if len(idx) == len(steps) and idx[0] == 0 and (idx[1:] != idx[:-1]).all():  # every record, in order
                    s, ln = steps, lines.astype(np.int64, copy=False)  # (the records' own steps: no gathered copy)
                else:
                    s, ln = steps[idx], _gather_wide(lines, idx)
                v = vals
                series = cols.finish(s, v, ln)
                if series is not None:
                    src.series[name] = series
                    if series.steps is s and series.lines is ln:  # (as they were: the next one's too)
                        same = (records, kept, s, ln)
                del idx, vals, keep, s, v, ln, records, kept
                release_freed()
                continue
            else:
                s = steps[idx]
                ok = ~np.isnan(s)
                if ok.all():  # (no masked copies of the largest arrays: the peak is one metric's on top of the output)
                    s, v, ln = s, vals, lines[idx]
                else:
                    s, v, ln = s[ok], vals[ok], lines[idx][ok]
                del idx, vals, ok
                if rising:
                    s, v, ln = last_per_step(s, v, ln)
            # (the Series' lines are int64: widened after the redraws of a step are dropped, not before)
            series = cols.finish(s, v, ln.astype(np.int64, copy=False))
            if series is not None:
                src.series[name] = series
            del s, v, ln
            release_freed()  # (the metric's store, freed: its pages back, so that the peak is the output's)
        return self.close(src)


_NL = b"\n"


def feeds_before(gaps: list, left: bytes, fresh: bool = False) -> np.ndarray:
    """The line feeds before each record of a split (`gaps`: the text around the n records; `left`: the gaps
    joined by the one-byte mark that replaces each record). Where records follow each other line by line (every
    gap between two is one line feed, found by identity: a one-byte bytes object is CPython's cached one) that is
    a count; where the gaps are up to 2 KB on average, the line feeds of `left` are placed against the marks'
    offsets by numpy (~0.7 ns a byte of `left`); else each gap's line feeds are counted (the way all of this was
    done: 300-400 ns a gap here, whatever its length below a few KB: DeepSpeed-Chat's 300-byte gaps cost 8 ms an
    8 MB chunk that way, 5 ms by numpy). `fresh`: the text split held no mark of an earlier shape's records, so
    where `left` holds n marks they are the records' own, found by numpy too (the offsets from the gaps' lengths,
    a `len` a gap, cost as much again: llama-recipes' 62,000 redraws a chunk, 5.6 -> 3.6 ms)."""
    n = len(gaps) - 1
    inner = gaps.count(_NL) - (gaps[0] == _NL) - (gaps[-1] == _NL)
    if inner == n - 1:
        return gaps[0].count(_NL) + np.arange(n, dtype=np.int64)
    if len(left) < 2048 * n:
        buf = np.frombuffer(left, dtype=np.uint8)
        feeds = np.flatnonzero(buf == 10)
        marks = np.flatnonzero(buf == _TAKEN[0]) if fresh else None
        if marks is None or len(marks) != n:  # (a mark byte in the file's own text: the marks by the gaps)
            marks = np.cumsum(np.fromiter(map(len, gaps), dtype=np.int64, count=n + 1)[:-1]) + np.arange(n)
        return np.searchsorted(feeds, marks).astype(np.int64)
    return np.cumsum(np.fromiter(map(bytes.count, gaps, repeat(_NL)), dtype=np.int64, count=n))


def _merged(keys: list, mine: np.ndarray, mvalues: dict, rvalues: dict) -> dict:
    """{key: (values, ok)} of a chunk's records, those of the byte matrices where `mine` is set, the others'
    (the split's, the engine's) elsewhere, each side in file order."""
    values = {}
    for key in keys:
        (mv, mo), (rv, ro) = mvalues[key], rvalues[key]
        v = np.empty(len(mine))
        v[mine], v[~mine] = mv, rv
        ok = None
        if mo is not None or ro is not None:
            ok = np.empty(len(mine), dtype=bool)
            ok[mine] = True if mo is None else mo
            ok[~mine] = True if ro is None else ro
        values[key] = (v, ok)
    return values


def marked(text: bytes, starts: np.ndarray, ends: np.ndarray) -> bytes:
    """`text` with each record (`starts`, `ends`: sorted, apart) replaced by the mark of a taken record, as
    `_TAKEN.join` of the gaps between them makes it. Where the gaps are short (a tqdm line's redraws) their bytes
    are copied by one numpy gather (a slice a gap costs ~0.3 us a record; the gather, a few ns a byte kept)."""
    g0 = np.concatenate([[0], ends])
    glen = np.concatenate([starts, [len(text)]]) - g0
    total = int(glen.sum())
    if total > 8 * len(glen):  # (long gaps: a line's prefix before each record)
        return _TAKEN.join([text[a:b] for a, b in zip(g0.tolist(), (g0 + glen).tolist())])
    which = np.repeat(np.arange(len(glen)), glen)  # the gap of each byte kept
    src = np.arange(total) + np.repeat(g0 - (np.cumsum(glen) - glen), glen)
    out = np.full(total + len(starts), _TAKEN[0], dtype=np.uint8)
    out[np.arange(total) + which] = np.frombuffer(text, dtype=np.uint8)[src]
    return out.tobytes()


def _gather_wide(lines: np.ndarray, idx: np.ndarray, block: int = 1 << 20) -> np.ndarray:
    """`lines[idx]` as int64, gathered a block at a time (no int32 copy of all of them beside the int64 one)."""
    if lines.dtype == np.int64:
        return lines[idx]
    out = np.empty(len(idx), dtype=np.int64)
    for a in range(0, len(idx), block):
        out[a:a + block] = lines[idx[a:a + block]]
    return out


def last_of_each_step(steps: np.ndarray, idx: np.ndarray, block: int = 1 << 20) -> np.ndarray | None:
    """Where the steps never go down (`rising`) and no record of `idx` (record numbers in file order) has a NaN step:
    the mask of the records `last_per_step` keeps of them (the last of each step), found a block at a time, so that
    the steps of all of them are never gathered at once (8 bytes a value at the finish's peak: a tqdm log's loss is
    on nearly every record, twice a step); None where a step is NaN or there are fewer than two (then the caller
    gathers them and `last_per_step` decides)."""
    n = len(idx)
    if n < 2:
        return None
    keep = np.empty(n, dtype=bool)
    for a in range(0, n, block):
        s = steps[idx[a:min(a + block + 1, n)]]  # (one more: the next block's first, to compare with)
        if np.isnan(s).any():
            return None
        np.not_equal(s[1:], s[:-1], out=keep[a:a + len(s) - 1])
    keep[-1] = True
    return keep


def last_per_step(s: np.ndarray, v: np.ndarray, ln: np.ndarray, block: int = 1 << 20) -> tuple:
    """One metric's (steps, values, lines) with only the last value of each step, where steps and lines never go
    down (redraws, two records of one step in a row): what `Columns.finish` keeps, but moved down in place a block
    at a time, so that the largest metric is not held twice (its three masked copies were the peak of a long log).
    Anything else is returned as it is, for `Columns.finish`. `s` and `ln` must be the caller's own arrays (they
    are cut to length in place); `v` may be a view of the store (it is copied when most of it is dropped)."""
    n = len(s)
    if n < 2:
        return s, v, ln
    step_up = s[1:] > s[:-1]
    if step_up.all() or not ((s[1:] >= s[:-1]).all() and (ln[1:] >= ln[:-1]).all()):
        return s, v, ln
    last = np.append(step_up, True)  # (steps never go down: a step differs from the next one where it rises)
    del step_up
    w = 0
    for a in range(0, n, block):
        keep = last[a:a + block]
        k = int(np.count_nonzero(keep))
        for x in (s, v, ln):  # (w <= a: what is written was read before)
            x[w:w + k] = x[a:a + block][keep]
        w += k
    for x in (s, ln):
        if x.base is None and x.flags.c_contiguous:
            x.resize(w, refcheck=False)  # (a shrinking realloc: no copy)
    s, ln = s[:w], ln[:w]
    v = v[:w] if 2 * w >= n else v[:w].copy()
    return s, v, ln


def _py_floats(values: list) -> tuple[np.ndarray, np.ndarray | None]:
    """Columns of slow-path rows: floats, None or value bytes."""
    conv = [to_float(v.decode("ascii", "replace")) if isinstance(v, bytes) else v for v in values]
    ok = np.array([c is not None and isinstance(c, float) for c in conv], dtype=bool)
    vals = np.array([c if ok_ else 0.0 for c, ok_ in zip(conv, ok)], dtype=np.float64)
    return vals, (None if ok.all() else ok)


def read(path: Path, fmt: Format) -> SourceData:
    return Reader(Path(path), fmt).run()


# ------------------------------------------------------------------------------------------ helpers for formats


SNIFFED: list[tuple[tuple[bytes, ...], int]] = []  # every sniffer's patterns (tests check the needles on them)


def sniffer(*patterns: bytes, flags: int = re.M) -> Callable[[str], int]:
    """A function counting the lines of a file's start (decoded text) that match any of `patterns`.

    The patterns are compiled on the first file that holds a literal stretch every match of one of them
    contains (`lazyre.needle`): a file without any is no match, and is told so without compiling."""
    rx = lazyre.compile(b"|".join(rb"(?:" + p + rb")" for p in patterns), flags)
    needles = [lazyre.needle(p, flags) for p in patterns]
    SNIFFED.append((patterns, flags))
    if None in needles:
        needles = []

    def count(head: str) -> int:
        data = head.encode("utf-8", "replace")
        if needles and not any(n in data for n in needles):
            return 0
        return len(rx.findall(data))

    return count


_OVERFLOW = lazyre.compile(rb"OVERFLOW! (?:Rank \d+ )?Skipping step\. Attempted loss scale: (\d+(?:\.\d*)?)"
                           rb"(?:, reducing to (\d+(?:\.\d*)?))?")
# apex amp's skip line, with the scale it falls to: `Gradient overflow.  Skipping step, loss scaler 0 reducing loss scale
# to 32768.0` (older: no `loss scaler 0`). Its dynamic scaler starts at 2^16 as DeepSpeed's does (apex's FP16_Optimizer
# said DeepSpeed's words, without the rank). fairseq's `overflow detected, setting loss scale to: 16` is left out: its
# scaler starts at 128, so its scales do not say what these say.
APEX_OVERFLOW = lazyre.compile(rb"Gradient overflow\.[ \t]+Skipping step,? (?:loss scaler \d+ )?reducing loss scale to "
                                rb"(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)")
APEX_OVERFLOW_WORD = b"Gradient overflow"  # what a chunk must hold for APEX_OVERFLOW to be tried


def apex_overflows(chunk: bytes) -> list[tuple[int, float]]:
    """(offset, the scale it falls to) of each apex overflow line of a chunk."""
    if chunk.find(APEX_OVERFLOW_WORD) < 0:
        return []
    return [(m.start(), float(m.group(1))) for m in APEX_OVERFLOW.finditer(chunk)]


# DeepSpeed's engine progress line, every `steps_per_print` steps: `[Rank 0] step=210, skipped=210, lr=[1e-05], ...`
# (`skipped`: the optimizer steps the fp16 loss scaler threw away so far; `step` counts them too).
_DS_PROGRESS = lazyre.compile(rb"\bstep=(\d{1,12}), skipped=(\d{1,12}), lr=")


def deepspeed_first_progress(chunk: bytes) -> tuple[int, int] | None:
    """The first (step, skipped) pair of DeepSpeed's progress lines in a chunk, or None."""
    m = _DS_PROGRESS.search(chunk)
    return (int(m.group(1)), int(m.group(2))) if m is not None else None


def deepspeed_progress(chunk: bytes) -> tuple[int, int] | None:
    """The last (step, skipped) pair of DeepSpeed's progress lines in a chunk, or None."""
    if not holds(chunk, b", skipped="):  # (memchr on a byte the chunk lacks, where rfind reads every byte)
        return None
    p = chunk.rfind(b", skipped=")
    m = None
    for m in _DS_PROGRESS.finditer(chunk, max(0, p - 32)):
        pass
    return (int(m.group(1)), int(m.group(2))) if m is not None else None


def deepspeed_facts(facts: dict, progress: tuple[int, int] | None, first: tuple[int, int] | None = None) -> None:
    """What DeepSpeed's progress lines state: the optimizer steps it ran and how many the fp16 scaler skipped, and,
    from the first progress line the log holds, how many it had skipped by then (`skipped_at_first_progress` at
    `first_progress_step`): a count that does not move over the log says the skips came before it."""
    if progress is None or progress[0] == 0:  # `step=0, skipped=0`: the engine's line at start-up, before any step
        return
    step, skipped = progress
    facts["optimizer_steps"] = step
    if skipped:
        facts["overflow_count"] = max(skipped, facts.get("overflow_count") or 0)
        facts["fp16"] = True
    if first is not None and first[0] < step:
        facts["first_progress_step"], facts["skipped_at_first_progress"] = first


def count_overflows(reader: "Reader", chunk: bytes) -> None:
    """The fp16 loss scaler's skip lines (DeepSpeed's `OVERFLOW! Rank 0 Skipping step. Attempted loss scale: 65536,
    reducing to 32768`, apex's: `APEX_OVERFLOW`) and DeepSpeed's `step=N, skipped=M` progress lines (a
    `Format.scan` hook): counted into `extra`, stated by `overflow_facts`."""
    progress = deepspeed_progress(chunk)
    if progress is not None:
        reader.extra["ds_progress"] = progress
        reader.extra.setdefault("ds_first", deepspeed_first_progress(chunk))
    x = reader.extra
    scales = [scale for _, scale in apex_overflows(chunk)]
    tried = [2 * scale for scale in scales]  # the scale each skipped step attempted (apex's halved to `scale`)
    if find_rare(chunk, b"OVERFLOW!", 8) >= 0:
        for m in _OVERFLOW.finditer(chunk):
            scales.append(float(m.group(2) or m.group(1)))
            tried.append(float(m.group(1)))
    if scales:
        x["overflows"] = x.get("overflows", 0) + len(scales)
        x["scale_min"] = min(min(scales), x.get("scale_min", scales[0]))
        x["scale_max"] = max(max(tried), x.get("scale_max", tried[0]))


def overflow_facts(reader: "Reader", src: SourceData) -> None:
    if reader.extra.get("overflows"):
        src.facts["overflow_count"] = reader.extra["overflows"]
        src.facts["loss_scale_min"] = reader.extra["scale_min"]
        src.facts["loss_scale_max"] = reader.extra["scale_max"]
        src.facts["fp16"] = True
    deepspeed_facts(src.facts, reader.extra.get("ds_progress"), reader.extra.get("ds_first"))


def epoch_steps(epoch: np.ndarray, index: np.ndarray, per_epoch: np.ndarray | None = None,
                first_epoch: float | None = None) -> np.ndarray:
    """A global step from an (epoch, index within the epoch) pair whose index restarts every epoch.

    With the number of items per epoch (`per_epoch`, e.g. mmengine's `[200/735]`): (epoch - first) * per_epoch
    + index. Without it: the index plus the largest index seen in all earlier epochs (+1 per epoch), so steps
    keep rising across epochs (DeepSpeed-Chat's `step` restarts at 0 every epoch).
    """
    epoch = np.asarray(epoch, dtype=np.float64)
    index = np.asarray(index, dtype=np.float64)
    if not len(epoch):
        return index
    base = first_epoch if first_epoch is not None else np.nanmin(epoch)
    if per_epoch is not None:
        return (epoch - base) * per_epoch + index
    out = index.copy()
    changes = np.flatnonzero(np.diff(epoch) != 0) + 1
    bounds = np.concatenate([[0], changes, [len(epoch)]])
    offset = 0.0
    for a, b in zip(bounds[:-1], bounds[1:]):
        out[a:b] = index[a:b] + offset
        if b > a:
            offset = np.nanmax(out[a:b]) + 1
    return out


def inherit_steps(steps: np.ndarray, fmt: Format, kinds: np.ndarray) -> None:
    """In place: every record of a kind without a step of its own (`Kind.step` None) takes the step of the closest
    record before it that has one (NaN where none is)."""
    inherit = np.array([k.step is None for k in fmt.kinds], dtype=bool)[kinds]
    if inherit.any():
        targets = np.flatnonzero(inherit)
        steps[targets] = NAN
        take_previous(steps, targets, ~inherit & ~np.isnan(steps))


def take_previous(steps: np.ndarray, targets: np.ndarray, own: np.ndarray, block: int = 1 << 20) -> None:
    """In place: each record in `targets` takes the step of the closest record before it whose `own` mask is
    set (a reward line after its loss line, a validation line after its training line); NaN where none is."""
    n = len(steps)
    if len(targets) > 1 and not (targets[1:] > targets[:-1]).all():  # (not in file order: all at once)
        last = np.arange(n, dtype=np.int32 if n < 2 ** 31 else np.int64)
        last[~own] = -1
        np.maximum.accumulate(last, out=last)
        last = last[targets]
        steps[targets] = np.where(last >= 0, steps[np.maximum(last, 0)], NAN)
        return
    # a block of records at a time (the last own record before the block carried over), so that no array of every
    # record is made (three were the peak of a long two-records-a-step log's finish). A target that is an own
    # record takes its own step, so the steps written never change one read later.
    carry, t0 = -1, 0
    for a in range(0, n, block):
        b = min(a + block, n)
        t1 = int(np.searchsorted(targets, b))
        if t1 > t0:
            last = np.arange(a, b, dtype=np.int64)
            last[~own[a:b]] = -1
            np.maximum.accumulate(last, out=last)
            np.maximum(last, carry, out=last)
            t = targets[t0:t1]
            got = last[t - a]
            steps[t] = np.where(got >= 0, steps[np.maximum(got, 0)], NAN)
            carry, t0 = int(last[-1]), t1
        else:
            where = np.flatnonzero(own[a:b])
            if len(where):
                carry = a + int(where[-1])


def whole_piece_source(path: Path, fmt: Format, stream: "Chunks", runs) -> tuple[SourceData, Columns]:
    """What a reader that reads whole pieces with numpy (build_nanogpt, llmc) does before its series, as `read`
    would: the SourceData with its size-ceiling warning and the format's `post` facts, and the Columns holding the
    records' steps (`StepRuns`) and restart segments."""
    src = SourceData(path=path, format=fmt.name)
    if stream.truncated:
        src.warnings.append(f"{path.name}: read up to the size ceiling (KTO_DOCTOR_MAX_FILE_BYTES); "
                            "the rest of the file was not read")
    if fmt.post is not None:
        fmt.post(None, src)
    cols = Columns(fmt.dialect)
    runs.set_steps(cols)
    cols.finish_segments(src, "the step counter")
    return src, cols


def source(fmt: Format, title: str, *patterns: bytes, priority: int = 22, examples: tuple = ()):
    """The `Source` of a format read by `read(path, fmt)` and recognised by lines matching `patterns`."""
    from .registry import TEXT_SUFFIXES, Source, score

    count = sniffer(*patterns)
    return Source(name=fmt.name, title=title, read=lambda path: read(path, fmt), priority=priority,
                  sniff=lambda head: score(count(head)), suffixes=TEXT_SUFFIXES, examples=examples)
