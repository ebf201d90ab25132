r"""A learned shape's records read as byte matrices of one layout: the split of a chunk without the regex engine.

`textlog` finds a chunk's records with ONE `re.split` by the most used learned shape, which is half of a text
reader's CPU time (the regex engine's loop over every byte, a bytes object per capture, joins of those for the
conversion). A log repeats a few line layouts: here the chunk's *units* (its lines, or the pieces between line
feeds and tqdm's `\r`, `\x1e` by then) are grouped by their bytes with every digit read as `0`, one byte matrix a
layout (`bytematrix.layouts`); the shape's regex is run once on one unit of a layout, and every other unit of it
has its records at the same offsets, whose values are read at once from the matrix by numpy.

Exactness: the units of one layout differ only in which digit stands where a digit stands. `program` admits a
shape's regex only where
- every byte test in it (literals, classes, categories, lookarounds) takes all ten digits alike, and nothing
  compares text with text (no back reference): then the engine cannot tell such units apart, and takes the same
  path through each (the same matches, the same captures);
- nothing of it consumes a unit's separator (a one-byte lookaround may look at it), so no match reaches over one
  and a unit's matches are the split's own there whatever the text around it;
- it looks back at most one byte before where a match attempt starts (`^`, `\b`, a lookbehind less the text
  matched before it): the separator before the unit, which the layout holds, as it holds the one after.
The units compared are those with a separator on both sides (the chunk's first and unterminated last stretch are
left to the regex). Where the records of a unit are replaced by the mark of a taken record, the regex must find
nothing more in it (checked on the model: the other units are the same to it), so the shape's split of what is
left finds the records of the other units only, and the text left is the split's.

A tqdm bar redrawn by `\r` alone (one long line) is read by its redraws, though its shape's classes may run over
one: `take_redraws`, each layout's path proven by `Walk` (below).

Values: a capture of the layout `[-+]?0*(.0*)?` or `[-+]?0*(.0*)?[eE][-+]?0+` (digits as `0`, at most 15 digits,
|scale| <= 22) is read from the bytes as `decimals` and `bytematrix` argue, exactly float()'s; a layout with any
other capture (`nan`, a 17-digit repr) is left to the split (its texts would cost what the split costs).
"""
from __future__ import annotations

import re

import numpy as np

from . import bytematrix, decimals, linefast

try:
    from re import _parser as _sre
except ImportError:  # pragma: no cover (3.10)
    import sre_parse as _sre  # type: ignore[no-redef]

REDRAW_WIDTHS, REDRAW_LAYOUTS = 64, 16  # redraws (`take_redraws`): a bar's fields change width often
MIN_ROWS = 32  # units of one layout below this go to the regex (tests set it lower to read small files this way)
NL, RS, MARK = 10, 0x1E, 0x1F  # a line feed, tqdm's redraw (`\r` by the time a chunk is read), a taken record
_DIGITS = frozenset(range(48, 58))
_ALL = frozenset(range(256))
# anchors that look at the byte before (`^` is AT_BEGINNING in the parse, the line's start under re.M)
_BEHIND_ONE = {"AT_BEGINNING", "AT_BEGINNING_LINE", "AT_BOUNDARY", "AT_NON_BOUNDARY"}
_NEUTRAL_AT = _BEHIND_ONE | {"AT_BEGINNING", "AT_BEGINNING_STRING", "AT_END", "AT_END_LINE", "AT_END_STRING"}


class _No(Exception):
    pass


def _set(op, arg) -> frozenset:
    """The bytes one parsed item takes (a class, a literal), or _No."""
    try:
        return linefast._byteset(op, arg)
    except linefast.Unsupported:
        raise _No from None


def _min_width(items) -> int:
    total = 0
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
            total += 1
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            total += arg[0] * _min_width(arg[2])
        elif name == "SUBPATTERN":
            total += _min_width(arg[-1])
        elif name == "ATOMIC_GROUP":
            total += _min_width(arg)
        elif name == "BRANCH":
            total += min(_min_width(b) for b in arg[1])
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            pass
        else:
            raise _No(name)
    return total


class _Check:
    """Walks a parsed pattern: digit-neutral tests, no separator consumed, the reach back before an attempt."""

    def __init__(self, seps: frozenset, multiline: bool) -> None:
        self.seps = seps
        self.multiline = multiline
        self.reach = 0

    def items(self, items, before: int, consume: bool = True) -> None:
        """`before`: the fewest bytes matched since the attempt's start when `items` start; `consume`: outside a
        lookaround that may look at one byte only (whose byte may be a separator)."""
        for op, arg in items:
            name = str(op)
            if name in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
                took = _ALL - {NL} if name == "ANY" else _set(op, arg)
                if took & _DIGITS and not _DIGITS <= took:
                    raise _No("a test that tells digits apart")
                if consume and took & self.seps:
                    raise _No("a separator consumed")
                before += 1
            elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
                self.items(arg[2], before, consume)
                before += arg[0] * _min_width(arg[2])
            elif name == "SUBPATTERN":
                if arg[1] or arg[2]:
                    raise _No("flags")
                self.items(arg[-1], before, consume)
                before += _min_width(arg[-1])
            elif name == "ATOMIC_GROUP":
                self.items(arg, before, consume)
                before += _min_width(arg)
            elif name == "BRANCH":
                for b in arg[1]:
                    self.items(b, before, consume)
                before += min(_min_width(b) for b in arg[1])
            elif name == "AT":
                at = str(arg)
                if at not in _NEUTRAL_AT or (at == "AT_END" and not self.multiline):
                    raise _No(at)  # (`$` without re.M is also true before a line feed that ends the text)
                if at in _BEHIND_ONE:
                    self.reach = max(self.reach, 1 - before)
            elif name in ("ASSERT", "ASSERT_NOT"):
                direction, sub = arg
                width = _min_width(sub)
                if direction == -1:  # a lookbehind: fixed width, it looks at `width` bytes before here
                    self.reach = max(self.reach, width - before)
                    self.items(sub, before - width, False)
                else:  # a lookahead: one byte may be a separator; a longer one must not cross any
                    from .textlog import _one_character  # (textlog imports this module)

                    self.items(sub, before, consume and not _one_character(sub))
            else:
                raise _No(name)


def program(pattern: bytes, flags: int) -> frozenset | None:
    """The separators of the units a shape's regex may be read by (`{\\n, \\x1e}` or `{\\n}`), or None where it
    is not one this module reads exactly (see the module's docstring)."""
    try:
        parsed = _sre.parse(pattern, flags)
        flags = parsed.state.flags  # (with the pattern's own `(?s)` and the like)
        if flags & (re.I | re.S) or _min_width(parsed) == 0:
            return None
    except (re.error, TypeError, _No):
        return None
    for seps in (frozenset((NL, RS)), frozenset((NL,))):
        check = _Check(seps, bool(flags & re.M))
        try:
            check.items(parsed, 0)
        except (_No, RecursionError):
            continue
        if check.reach <= 1:
            return seps
    return None


def _number(text: bytes):
    """The plan to read a field whose layout text (digits as `0`) is `text`: ("fixed", layout) for
    `bytematrix.number_layout`, ("exp", sign, whole, frac, exp sign, exp digits) for a fixed exponent layout, or
    None (read as texts)."""
    lay = bytematrix.number_layout(text)
    if lay is not None:
        return ("fixed", lay)
    m = decimals._LAYOUT.fullmatch(text)
    if m is None:
        return None
    blanks, sign, whole, point, frac, letter, exp_sign, exp = m.groups()
    if blanks or not letter or not exp or len(exp) > 3 or m.end() != len(text):
        return None
    frac = frac or b""
    if not (whole or frac) or len(whole) + len(frac) > bytematrix.MAX_DIGITS:
        return None
    return ("exp", sign, len(whole), bool(point), len(frac), exp_sign, len(exp))


def _exp_values(w8: np.ndarray, at: np.ndarray, plan) -> np.ndarray | None:
    """float() of `[-+]?d*(.d*)?[eE][-+]?d+` at byte offsets `at`, the layout `plan`'s: the digits' integer m and
    the scale s give m * 10**s or m / 10**-s, one correctly rounded operation on exact doubles (`decimals`); None
    where some |s| > 22."""
    _, sign, wi, point, fr, exp_sign, ne = plan
    at = at + len(sign)
    mant = bytematrix.digits(w8, at + wi, wi)
    if fr:
        mant = mant * np.uint64(10 ** fr) + bytematrix.digits(w8, at + wi + 1 + fr, fr)
    e_at = at + wi + point + fr + 1 + len(exp_sign)
    e = bytematrix.digits(w8, e_at + ne, ne).astype(np.int64)
    scale = (-e if exp_sign == b"-" else e) - fr
    if len(scale) and np.abs(scale).max() > 22:
        return None
    v = mant.astype(np.float64)
    up = scale >= 0
    v = np.where(up, v * bytematrix._POW10[np.maximum(scale, 0)], v / bytematrix._POW10[np.maximum(-scale, 0)])
    return -v if sign == b"-" else v


class Layouts:
    """One chunk's units grouped by layout (`groups`: layout bytes, the offsets of its units' windows in the text).
    A window is the separator before a unit, the unit and the separator after it; those within 8 bytes of the
    text's ends are left out (the 8-byte words that read a field, or compare a window, stay within the text)."""

    def __init__(self, text: bytes, seps: frozenset, min_rows: int, per_width: int = 4, max_widths: int = 8) -> None:
        arr = np.frombuffer(text, dtype=np.uint8)
        at = arr == NL
        if RS in seps:
            at |= arr == RS
        sep = np.flatnonzero(at)
        del at
        self.groups = []
        self.w8 = bytematrix.words(text) if len(text) >= 8 else None
        if len(sep) < 2:
            return
        starts, widths = sep[:-1], np.diff(sep) + 1
        inside = (starts >= 8) & (sep[1:] + 16 <= len(text))
        if not inside.all():
            starts, widths = starts[inside], widths[inside]
        self.groups = [(lay, starts[rows]) for lay, rows in
                       bytematrix.layouts(arr, starts, widths, min_rows=min_rows, per_width=per_width,
                                                     max_widths=max_widths)]


def take(shape, text: bytes, seps: frozenset, min_rows: int | None = None):
    """The records of `shape` in the units of `text` that a layout holds: (offsets of the records in `text`, their
    ends, {key: (values, mask of the readable ones or None)}) in file order, or None where no layout was taken."""
    got = Layouts(text, seps, MIN_ROWS if min_rows is None else min_rows)
    if not got.groups:
        return None
    regex, keys = shape.regex, shape.keys
    if regex.groups != len(keys):
        return None
    parts: list = []  # (record starts in text, ends, {key: (values, ok)})
    for lay, wins in got.groups:
        a0 = int(wins[0])
        win = text[a0:a0 + len(lay)]
        ms = list(regex.finditer(win, 1))
        if not ms or any(m.end() <= m.start() or m.end() > len(win) - 1 for m in ms):
            continue
        # the unit with its records marked: the split of what is left must find nothing more in it
        marked, prev = [], 0
        for m in ms:
            marked += [win[prev:m.start()], bytes((MARK,))]
            prev = m.end()
        marked.append(win[prev:])
        if regex.search(b"".join(marked), 1) is not None:
            continue
        cols = [_fields(got, lay, wins, m, keys) for m in ms]
        if any(c is None for c in cols):  # (the layout's units are the split's)
            continue
        parts += [(wins + m.start(), wins + m.end(), c) for m, c in zip(ms, cols)]
    if not parts:
        return None
    return _in_order(parts, keys)


def _in_order(parts: list, keys: list):
    """The records of every layout's (starts, ends, {key: (values, ok)}) in file order, one array each."""
    starts = np.concatenate([p[0] for p in parts])
    ends = np.concatenate([p[1] for p in parts])
    order = np.argsort(starts, kind="stable")
    values = {}
    for key in keys:
        vs = [p[2][key] for p in parts]
        ok = None
        if any(o is not None for _, o in vs):
            ok = np.concatenate([np.ones(len(v), dtype=bool) if o is None else o for v, o in vs])[order]
        values[key] = (np.concatenate([v for v, _ in vs])[order], ok)
    return starts[order], ends[order], values


def _fields(got: Layouts, lay: bytes, wins: np.ndarray, m: re.Match, keys: list):
    """{key: (values, ok)} of one match's captures in every unit of a layout (`wins`: their windows' offsets in
    the text), or None where a capture is not a number the bytes give exactly (`nan`, a 17-digit repr: its texts
    would cost what the split does, so the layout is left to the split)."""
    out = {}
    fixed = []  # (key, offset in the window, bytematrix layout)
    for j, key in enumerate(keys):
        a, b = m.span(j + 1)
        if a < 0:  # the group took no part in the match, in any unit of the layout: what `floats` makes of None
            out[key] = (np.full(len(wins), np.nan), np.zeros(len(wins), dtype=bool))
            continue
        plan = _number(lay[a:b])
        if plan is None:
            return None
        if plan[0] == "fixed":
            fixed.append((key, a, plan[1]))
            continue
        v = _exp_values(got.w8, wins + a, plan)
        if v is None:
            return None
        out[key] = (v, None)
    if fixed:
        v = bytematrix.fields_values(got.w8, wins, [(a, lay_) for _, a, lay_ in fixed])
        for j, (key, _, _) in enumerate(fixed):
            out[key] = (np.ascontiguousarray(v[:, j]), None)
    return out


# ------------------------------------------------------------------------------------------ redraws as units
#
# A tqdm bar redrawn by `\r` alone is one long line: its shape's classes (`[^|\n]*`) take `\x1e` too, so `program`
# gives `{\n}` and its units would be lines, no two alike. `take_redraws` reads such a text by its redraws (the
# pieces between `\n` and `\x1e`) all the same, and proves per layout what the byte tests alone cannot: that the
# engine's search over a redraw never looks past it. `Walk` is the engine's backtracking search at one start, over
# the parsed pattern (the leftmost alternative first, greedy runs longest first, lazy ones shortest first, a
# lookaround matched once): its result is the engine's, a function of the bytes the paths it tries look at. Where
# no path tried at any start of the unit's lead looks outside the layout's window (its separator before, the unit,
# its separator after), every unit of the layout has the same records: the bytes of the window are the same but
# for digits, and `program` admitted no test that tells two digits apart. The other starts of a unit fail at
# once (every match begins with the lead, a literal without digits or separators). What no proven layout holds
# is searched by the engine itself, on the whole text, at each place of the lead; a match found there that runs
# into proven units (a garbled draw's) takes them back, and the search goes on from its end.


class _Out(Exception):
    """A walk looked outside its window, or met a construct it does not model."""


_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_LINE_ATS = {"AT_BOUNDARY", "AT_NON_BOUNDARY", "AT_BEGINNING_LINE", "AT_END_LINE"}


def _ops(items, multiline: bool) -> list:
    """Parsed regex items -> ("set", bytes) ("rep", lo, hi, set or None, ops, greedy) ("cap", gid, ops)
    ("alt", [ops]) ("at", name) ("look", ahead, negative, ops, width); _Out for anything else."""
    out = []
    for op, arg in items:
        name = str(op)
        if name in ("LITERAL", "NOT_LITERAL", "IN"):
            out.append(("set", _set(op, arg)))
        elif name == "ANY":
            out.append(("set", _ALL - {NL}))
        elif name in ("MAX_REPEAT", "MIN_REPEAT"):
            lo, hi, sub = arg
            sub = list(sub)
            single = None
            if len(sub) == 1 and str(sub[0][0]) in ("LITERAL", "NOT_LITERAL", "IN", "ANY"):
                single = _ops(sub, multiline)[0][1]
            elif (lo, hi) != (0, 1) or name != "MAX_REPEAT":
                raise _Out(name)
            out.append(("rep", lo, hi, single, None if single is not None else _ops(sub, multiline),
                        name == "MAX_REPEAT"))
        elif name == "SUBPATTERN":
            gid, add, rem, sub = arg
            if add or rem:
                raise _Out("flags")
            out.append(("cap", gid, _ops(sub, multiline)) if gid is not None else ("alt", [_ops(sub, multiline)]))
        elif name == "BRANCH":
            out.append(("alt", [_ops(b, multiline) for b in arg[1]]))
        elif name == "AT":
            at = str(arg)
            if multiline:  # (the parser's `^` and `$`, made the line's by the compiler under re.M)
                at = {"AT_BEGINNING": "AT_BEGINNING_LINE", "AT_END": "AT_END_LINE"}.get(at, at)
            if at not in _LINE_ATS:
                raise _Out(at)
            out.append(("at", at))
        elif name in ("ASSERT", "ASSERT_NOT"):
            direction, sub = arg
            width = _min_width(sub) if direction == -1 else 0
            out.append(("look", direction == 1, name == "ASSERT_NOT", _ops(sub, multiline), width))
        else:
            raise _Out(name)
    return out


class Walk:
    """A pattern's search at one start over a window (`match`): (end, {gid: span}) of the first path that succeeds,
    in the engine's order, or None; raises _Out where a path tried reads a byte outside the window."""

    def __init__(self, pattern: bytes, flags: int) -> None:
        parsed = _sre.parse(pattern, flags)
        if parsed.state.flags & (re.I | re.S | re.X):
            raise _Out("flags")
        self.ops = _ops(parsed, bool(parsed.state.flags & re.M))
        self.win = b""
        self.known: dict = {}  # layout -> its model window's matches (`_unit_matches`), for `take_redraws`

    def byte(self, p: int) -> int:
        if 0 <= p < len(self.win):
            return self.win[p]
        raise _Out("outside")

    def match(self, win: bytes, p: int):
        self.win = win
        return self._m(self.ops, 0, p, {}, lambda q, caps: (q, caps))

    def _m(self, ops, i, pos, caps, k):
        byte = self.byte
        while i < len(ops):
            op = ops[i]
            t = op[0]
            if t == "set":
                if byte(pos) not in op[1]:
                    return None
                pos += 1
            elif t == "rep":
                _, lo, hi, cls, sub, greedy = op
                if cls is None:  # `(...)?`: with it, then without it
                    def after(q, c, i=i, k=k):
                        return self._m(ops, i + 1, q, c, k)
                    got = self._m(sub, 0, pos, caps, after)
                    return got if got is not None else self._m(ops, i + 1, pos, caps, k)
                end = pos
                while end - pos < lo:
                    if byte(end) not in cls:
                        return None
                    end += 1
                if greedy:
                    while end - pos < hi and byte(end) in cls:
                        end += 1
                    for q in range(end, pos + lo - 1, -1):
                        got = self._m(ops, i + 1, q, caps, k)
                        if got is not None:
                            return got
                    return None
                while True:
                    got = self._m(ops, i + 1, end, caps, k)
                    if got is not None:
                        return got
                    if end - pos >= hi or byte(end) not in cls:
                        return None
                    end += 1
            elif t == "cap":
                gid, start = op[1], pos

                def closed(q, c, i=i, k=k, gid=gid, start=start):
                    c = dict(c)
                    c[gid] = (start, q)
                    return self._m(ops, i + 1, q, c, k)
                return self._m(op[2], 0, pos, caps, closed)
            elif t == "alt":
                def rest(q, c, i=i, k=k):
                    return self._m(ops, i + 1, q, c, k)
                for alt in op[1]:
                    got = self._m(alt, 0, pos, caps, rest)
                    if got is not None:
                        return got
                return None
            elif t == "at":
                at = op[1]
                if at == "AT_BEGINNING_LINE":
                    ok = byte(pos - 1) == NL
                elif at == "AT_END_LINE":
                    ok = byte(pos) == NL
                else:
                    ok = (byte(pos - 1) in _WORD) != (byte(pos) in _WORD)
                    ok = ok if at == "AT_BOUNDARY" else not ok
                if not ok:
                    return None
            else:  # a lookaround: matched once, its first success
                _, ahead, negative, sub, width = op
                if ahead:
                    got = self._m(sub, 0, pos, caps, lambda q, c: (q, c))
                else:
                    got = self._m(sub, 0, pos - width, caps, lambda q, c, pos=pos: (q, c) if q == pos else None)
                if negative:
                    if got is not None:
                        return None
                elif got is None:
                    return None
                else:
                    caps = got[1]
            i += 1
        return k(pos, caps)


class _Spans:
    """A walk's match as `_fields` reads a match (`span` of a group)."""

    def __init__(self, start: int, end: int, caps: dict) -> None:
        self.a, self.b, self.caps = start, end, caps

    def span(self, gid: int = 0):
        return (self.a, self.b) if gid == 0 else self.caps.get(gid, (-1, -1))

    def start(self) -> int:
        return self.a

    def end(self) -> int:
        return self.b


def _unit_matches(walk: Walk, regex, win: bytes, lead: bytes):
    """The split's matches in a layout's model window (`_Spans`), or None where a path tried looks outside it, a
    match reaches the separator after the unit, or the engine answers otherwise (then this module is wrong)."""
    out, pos = [], 1
    p = win.find(lead, pos, len(win) - 1)
    while p >= 0:
        try:
            got = walk.match(win, p)
        except (_Out, RecursionError):
            return None
        m = regex.match(win, p)
        if got is None:
            if m is not None:
                return None
            p = win.find(lead, p + 1, len(win) - 1)
            continue
        end, caps = got
        if m is None or m.end() != end or end <= p or end > len(win) - 1:
            return None
        if any(m.span(g) != caps.get(g, (-1, -1)) for g in range(1, regex.groups + 1)):
            return None
        out.append(_Spans(p, end, caps))
        p = win.find(lead, end, len(win) - 1)
    return out


def redraw_lead(pattern: bytes, flags: int) -> bytes | None:
    """The literal every match of a shape's regex starts with, where `take_redraws` may read by it: no digit, no
    separator in it, and the regex of a form `Walk` models; else None."""
    from .textlog import literal_lead  # (textlog imports this module)

    lead = literal_lead(pattern, flags)
    if not lead or any(b in _DIGITS or b in (NL, RS, MARK) for b in lead):
        return None
    try:
        Walk(pattern, flags)
    except (_No, _Out, re.error, TypeError):
        return None
    return lead


def take_redraws(shape, text: bytes, walk: Walk, lead: bytes, min_rows: int | None = None):
    """The records of `shape` in `text` as its split takes them, its units the redraws (see above):
    (starts, ends, {key: (values, ok)}) of those of proven layouts, (starts, ends, {key: texts}) of those the
    engine found elsewhere (a match of theirs that runs into proven units takes those back), each in file order;
    None where no layout was proven."""
    got = Layouts(text, frozenset((NL, RS)), MIN_ROWS if min_rows is None else min_rows, per_width=REDRAW_LAYOUTS,
                  max_widths=REDRAW_WIDTHS)
    if not got.groups:
        return None
    regex, keys = shape.regex, shape.keys
    if regex.groups != len(keys):
        return None
    parts: list = []
    units: list = []  # (unit starts, the separators after them) of the proven layouts
    known = walk.known
    for lay, wins in got.groups:
        ms = known.get(lay, False)
        if ms is False:  # (a layout's matches are its bytes': kept for the chunks after)
            a0 = int(wins[0])
            ms = _unit_matches(walk, regex, text[a0:a0 + len(lay)], lead)
            if len(known) < 4096:
                known[lay] = ms
        if ms is None:
            continue
        cols = [_fields(got, lay, wins, m, keys) for m in ms]
        if any(c is None for c in cols):
            continue
        parts += [(wins + m.start(), wins + m.end(), c) for m, c in zip(ms, cols)]
        units.append((wins + 1, wins + len(lay) - 1))
    if not parts:
        return None
    starts, ends, values = _in_order(parts, keys)
    # the rest of the text: the stretches between proven units, searched by the engine at each place of the lead;
    # a match that runs into proven units (a garbled draw's) takes them back: their records are the engine's
    ua = np.concatenate([u[0] for u in units])
    ue = np.concatenate([u[1] for u in units])
    uo = np.argsort(ua)
    ua, ue = ua[uo], ue[uo]
    s0 = np.concatenate([[0], ue + 1])
    s1 = np.concatenate([ua, [len(text)]])
    keep = s1 > s0
    s0, s1 = s0[keep], s1[keep]
    s0l, s1l = s0.tolist(), s1.tolist()
    find, match, size = text.find, regex.match, len(text)
    rs, re_, texts = [], [], [[] for _ in keys]
    back = []  # (first, last) unit taken back
    k = 0
    while k < len(s0l):
        s, t = s0l[k], s1l[k]
        k += 1
        p = find(lead, s, t)
        while p >= 0:
            m = match(text, p)
            if m is None:
                p = find(lead, p + 1, t)
                continue
            e = m.end()
            if e <= p:  # pragma: no cover (`program` admits no empty match)
                return None
            rs.append(p)
            re_.append(e)
            for j, col in enumerate(texts):
                col.append(m.group(j + 1))
            if e > t:
                i0, i1 = int(np.searchsorted(ua, t)), int(np.searchsorted(ua, e))
                back.append((i0, i1))
                t = int(ua[i1]) if i1 < len(ua) else size
                k = int(np.searchsorted(s0, t))
            p = find(lead, e, t)
    if back:
        mine = np.ones(len(starts), dtype=bool)
        for i0, i1 in back:
            mine[np.searchsorted(starts, ua[i0]):np.searchsorted(starts, ue[i1 - 1])] = False
        starts, ends = starts[mine], ends[mine]
        values = {key: (v[mine], None if ok is None else ok[mine]) for key, (v, ok) in values.items()}
    rest = (np.asarray(rs, dtype=np.int64), np.asarray(re_, dtype=np.int64), dict(zip(keys, texts)))
    return (starts, ends, values), rest
