r"""A learned record shape's regex as a plain literal one per record line seen: the same records, a cheaper split.

`textlog` finds the records of a chunk with ONE `re.split` of a learned shape's regex. A shape's head is a
kind's general regex (`[Ii]ter(?<![\w/.][Ii]ter)(?:ation)?[ \t]*[:=]?[ \t]*(?P<step>\d+)...`, Megatron's
`iteration(?<![\w/]iteration) +(?P<iteration>\d+)/ *...`): lookbehinds, optional parts and classes that the regex
engine tries at every candidate, and no literal start it can skip to. A log repeats one line layout: here the first
record of a chunk becomes a `Template`, its line with every byte fixed but its values, and that template's regex
(`\niter\ ([0-9]+):\ loss\ ([-+0-9A-Za-z_.]+),...`) takes the lines of exactly that layout, the general regex then
reads what is left as before (textlog.Reader.fast).

Exactness. The shape's regex is compiled into a few operations (`_compile`: literals, byte sets, greedy runs of a
byte set, optional bytes, literals and groups, one-byte lookaheads, fixed-width lookbehinds, the line's end) and
walked over the sample record the way the regex engine takes its first choice at each (`_Path`: a greedy run as
long as it goes, an optional part where it is there). The walk must give the regex's own match (checked), and
every byte a decision looked at must decide alike on every line the template admits (a value's bytes are any of
its class: a decision on them must hold for the whole class), each value alone between two bytes outside the
value class. Then on every admitted line the shape's regex takes the same path: the same match, captures at the
values. The leftmost match of a line starts at its record (the head cannot match earlier in the fixed prefix),
and a match never holds a line feed (`textlog.within_lines`), so each line is decided alone.
"""
from __future__ import annotations

import re

from . import lazyre

try:
    from re import _parser as _sre
except ImportError:  # pragma: no cover (3.10)
    import sre_parse as _sre  # type: ignore[no-redef]

MAX_TEMPLATES = 3  # per chunk: the lines of other layouts are left to the shape's own split
_ALL = frozenset(range(256))
_DIGITS = frozenset(range(48, 58))
_WORD = frozenset(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_SPACE = frozenset(b" \t\n\r\x0b\x0c")
_BLANK = frozenset(b" \t")
_CATEGORIES = {"CATEGORY_DIGIT": _DIGITS, "CATEGORY_NOT_DIGIT": _ALL - _DIGITS, "CATEGORY_WORD": _WORD,
               "CATEGORY_NOT_WORD": _ALL - _WORD, "CATEGORY_SPACE": _SPACE, "CATEGORY_NOT_SPACE": _ALL - _SPACE}
_END = -1  # in a follow set: the end of the line or text
_TAIL_BYTES = frozenset(b" \t\n") | {_END}


class Unsupported(Exception):
    pass


def _byteset(op, arg) -> frozenset:
    name = str(op)
    if name == "LITERAL":
        return frozenset((arg,))
    if name == "NOT_LITERAL":
        return _ALL - {arg}
    if name != "IN":
        raise Unsupported(name)
    out: set = set()
    negate = False
    for o, a in arg:
        n = str(o)
        if n == "NEGATE":
            negate = True
        elif n == "LITERAL":
            out.add(a)
        elif n == "RANGE":
            out.update(range(a[0], a[1] + 1))
        elif n == "CATEGORY" and str(a) in _CATEGORIES:
            out |= _CATEGORIES[str(a)]
        else:
            raise Unsupported(n)
    return frozenset(_ALL - out if negate else out)


def _single(items) -> frozenset | None:
    items = list(items)
    if len(items) != 1:
        return None
    try:
        return _byteset(*items[0])
    except Unsupported:
        return None


def _is_tail(items: list, i: int) -> bool:
    """`[ \\t]*(?=[\\n\\x1e]|\\Z)` at items[i:], the end of the pattern (textlog.LINE_END)."""
    if len(items) - i != 2:
        return False
    (op1, a1), (op2, a2) = items[i], items[i + 1]
    if str(op1) != "MAX_REPEAT" or a1[0] != 0 or a1[1] != _sre.MAXREPEAT or _single(a1[2]) != _BLANK:
        return False
    if str(op2) != "ASSERT" or a2[0] != 1:
        return False
    return str(a2[1]) == str(_sre.parse(rb"(?=[\n\x1e]|\Z)")[0][1][1])


def _compile(items, top: bool) -> list:
    """Parsed regex items -> ops: ("lit", bytes) ("set", set) ("run", set, min, gid) ("opt", set or bytes)
    ("group", ops) ("cap", gid, ops) ("nlb", [sets]) ("nla", set) ("end",)."""
    items = list(items)
    ops: list = []
    i = 0
    while i < len(items):
        if top and _is_tail(items, i):
            ops.append(("end",))
            break
        op, arg = items[i]
        name = str(op)
        i += 1
        if name == "LITERAL":
            if ops and ops[-1][0] == "lit":
                ops[-1] = ("lit", ops[-1][1] + bytes((arg,)))
            else:
                ops.append(("lit", bytes((arg,))))
        elif name in ("IN", "NOT_LITERAL"):
            ops.append(("set", _byteset(op, arg)))
        elif name == "MAX_REPEAT":
            lo, hi, sub = arg
            s = _single(sub)
            if s is not None and hi == _sre.MAXREPEAT and lo in (0, 1):
                ops.append(("run", s, lo, None))
            elif s is not None and (lo, hi) == (0, 1):
                ops.append(("opt", s))
            elif (lo, hi) == (0, 1):
                inner = _compile(sub, False)
                if len(inner) == 1 and inner[0][0] == "lit":
                    ops.append(("opt", inner[0][1]))
                else:
                    ops.append(("group", inner))
            else:
                raise Unsupported("repeat")
        elif name == "SUBPATTERN":
            gid, add, rem, sub = arg
            if add or rem:
                raise Unsupported("flags")
            inner = _compile(sub, False)
            if gid is None:
                ops.extend(inner)
            elif len(inner) == 1 and inner[0][0] == "run":
                ops.append(("run", inner[0][1], inner[0][2], gid))
            else:
                raise Unsupported("capture")
        elif name == "ASSERT_NOT":
            direction, sub = arg
            sets = [_byteset(o, a) for o, a in sub]  # (raises on anything but single bytes)
            if direction == -1:
                ops.append(("nlb", sets))
            elif len(sets) == 1:
                ops.append(("nla", sets[0]))
            else:
                raise Unsupported("lookahead")
        else:
            raise Unsupported(name)
    return ops


def _first(ops: list, i: int, after: frozenset) -> frozenset:
    """The bytes the text at ops[i:] may start with (`after`: those of what follows ops)."""
    out: set = set()
    for op in ops[i:]:
        kind = op[0]
        if kind in ("nlb", "nla"):
            continue
        if kind == "lit":
            return frozenset(out | {op[1][0]})
        if kind == "set":
            return frozenset(out | op[1])
        if kind == "end":
            return frozenset(out | _TAIL_BYTES)
        if kind == "run":
            out |= op[1]
            if op[2]:
                return frozenset(out)
        elif kind == "opt":
            out |= op[1] if isinstance(op[1], frozenset) else {op[1][0]}
        elif kind == "group":
            out |= _first(op[1], 0, frozenset())
    return frozenset(out | after)


def _plan(ops: list) -> list:
    """Runs with the length of the literal's leading class bytes after them (`back`), groups with their first
    bytes: ("run", cls, lo, gid, back), ("group", ops, first bytes)."""
    out = []
    for i, op in enumerate(ops):
        kind = op[0]
        if kind == "run":
            cls, lo, gid = op[1], op[2], op[3]
            nxt = ops[i + 1] if i + 1 < len(ops) else None
            back = 0
            if nxt is not None and nxt[0] == "lit" and nxt[1][0] in cls:
                # a literal that starts with bytes of the class (`1076.38ms,`): its first byte outside the class
                # sits at the run's first byte outside it, which places the longest run the literal can follow
                back = next((k for k, b in enumerate(nxt[1]) if b not in cls), -1)
                if back < 0:
                    raise Unsupported("run into literal")
            out.append(("run", cls, lo, gid, back))
        elif kind == "group":
            if not op[1]:
                raise Unsupported("group")
            out.append(("group", _plan(op[1]), _first(op[1], 0, frozenset())))
        else:
            out.append(op)
    return out


class _Path:
    """The regex's first-choice path of a pattern's ops over one record (`walk`): the spans each op consumed,
    the captures, and every byte a decision looked at without consuming it (`looks`: position, byte set)."""

    def __init__(self, line: bytes) -> None:
        self.line = line
        self.var: list = []  # (start, end, class, gid) of the runs whose bytes may differ from record to record
        self.caps: dict = {}  # gid -> (start, end) or None (its group not taken)
        self.looks: list = []

    def byte(self, p: int) -> int | None:
        """The byte at p; a line feed before the line (a record's line starts after one, or at the text's start,
        where a lookbehind fails alike); None past the line or further back."""
        if p == -1:
            return 10
        return self.line[p] if 0 <= p < len(self.line) else None

    def walk(self, ops, pos: int) -> int | None:
        line = self.line
        for op in ops:
            kind = op[0]
            if kind == "lit":
                if not line.startswith(op[1], pos):
                    return None
                pos += len(op[1])
            elif kind == "set":
                if pos >= len(line) or line[pos] not in op[1]:
                    return None
                pos += 1
            elif kind == "opt":
                lit = op[1]
                if isinstance(lit, frozenset):
                    if pos < len(line) and line[pos] in lit:
                        pos += 1
                    else:
                        self.looks.append((pos, lit))
                elif line.startswith(lit, pos):
                    pos += len(lit)
                else:  # absent: the bytes compared up to the first that differs
                    for j, b in enumerate(lit):
                        self.looks.append((pos + j, frozenset((b,))))
                        if self.byte(pos + j) != b:
                            break
            elif kind == "nla":
                b = self.byte(pos)
                if b is not None and b in op[1]:
                    return None
                self.looks.append((pos, op[1]))
            elif kind == "nlb":
                sets = op[1]
                at = pos - len(sets)
                miss = next((j for j, s in enumerate(sets) if self.byte(at + j) is not None
                             and self.byte(at + j) not in s), None)
                if miss is None:  # (matched, or decided by bytes before the line: not taken)
                    return None
                self.looks.append((at + miss, sets[miss]))
            elif kind == "end":
                while pos < len(line) and line[pos] in (32, 9):
                    pos += 1
                if pos != len(line) - 1 or line[pos] != 10:
                    return None
                return pos
            elif kind == "run":
                _, cls, lo, gid, back = op
                end = pos
                while end < len(line) and line[end] in cls:
                    end += 1
                self.looks.append((end, cls))
                end -= back
                if end - pos < lo:
                    return None
                if end > pos and (cls == VALUE or cls == _DIGITS):
                    self.var.append((pos, end, cls, gid))
                if gid is not None:
                    self.caps[gid] = (pos, end)
                pos = end
            elif kind == "group":
                b = self.byte(pos)
                if b is None or b not in op[2]:
                    self.looks.append((pos, op[2]))
                    for gid in _gids(op[1]):
                        self.caps[gid] = None
                    continue
                got = self.walk(op[1], pos)
                if got is None:
                    return None
                pos = got
        return None  # (every program ends with "end")


VALUE = frozenset(b"-+0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_.")  # textlog._VALUE's class
_NOT_VALUE = bytes(0 if i in VALUE else 1 for i in range(256))  # translate table: 1 for a byte outside it


class Template:
    """A record line whose every byte is fixed except its values: the lines it admits are those of the same bytes
    with each value any run of its class (`regex`). Built from one record the shape's regex matched, and only
    where on every such line that regex takes the same decisions (`_Path.looks`) and so matches the record at the
    same place with the values as its captures: each value alone in its stretch of value-class bytes between two
    bytes outside the class (with fixed text around it there), so its extent is the stretch's less that text."""

    def __init__(self, line: bytes, prefix: int, path: _Path) -> None:
        self.line = line
        self.prefix = prefix  # the record starts this far into its line
        bounds = [-1] + [i for i, b in enumerate(line) if b not in VALUE]
        var = sorted(path.var)
        for a, b in zip(bounds[:-1], bounds[1:]):
            inside = [v for v in var if a < v[0] and v[1] <= b]
            if len(inside) > 1:
                raise Unsupported("two values in a stretch")
        self.segments = var  # (start, end, class, gid) in the line
        captured = {v[3] for v in var if v[3] is not None}
        for gid, span in path.caps.items():
            if span is not None and gid not in captured:
                raise Unsupported("a capture of fixed text")  # (its value would be the same in every record)
        self.absent = {gid for gid, span in path.caps.items() if span is None}
        # every byte a decision looked at must decide alike in every line the template admits
        for p, s in path.looks:
            seg = next((v for v in var if v[0] <= p < v[1]), None)
            if seg is None:
                continue  # a fixed byte (or the line feed before the line)
            cls = seg[2]
            if (line[p] in s and not cls <= s) or (line[p] not in s and cls & s):
                raise Unsupported("a decision on a value's bytes")

    def regex(self) -> re.Pattern:
        """The regex of exactly the lines this template admits, each with the line feed before it: its fixed
        bytes literally, each value as a run of its class (captured where the shape captures it)."""
        out, pos = [rb"\n"], 0
        for a, b, cls, gid in self.segments:
            out.append(re.escape(self.line[pos:a]))
            run = rb"[-+0-9A-Za-z_.]+" if cls == VALUE else rb"[0-9]+"
            out.append(rb"(" + run + rb")" if gid is not None else run)
            pos = b
        out.append(re.escape(self.line[pos:-1]) + rb"(?=\n)")
        return re.compile(b"".join(out))


class Program:
    """A learned shape's regex as the fast path runs it (`template` of a chunk, then `Template.take`)."""

    def __init__(self, pattern: bytes, flags: int) -> None:
        if flags & (re.I | re.X):
            raise Unsupported("flags")
        ops = _compile(_sre.parse(pattern, flags), True)
        if not ops or ops[-1] != ("end",):
            raise Unsupported("no line end")
        self.head = []  # the fixed-width start: its byte sets
        for op in ops:
            if op[0] == "lit":
                self.head += [frozenset((b,)) for b in op[1]]
            elif op[0] == "set":
                self.head.append(op[1])
            elif op[0] not in ("nlb", "nla"):
                break
        if not self.head:
            raise Unsupported("head")
        self.ops = _plan(ops)
        self.regex = re.compile(pattern, flags)
        self.needle = lazyre.needle(pattern, flags)  # a literal every match holds, or None

    def template(self, text: bytes, m: re.Match) -> Template | None:
        """The template of the record `m` matched (None where records like it are left to the shape's split)."""
        ls = text.rfind(b"\n", 0, m.start()) + 1
        le = text.find(b"\n", m.end())
        if le != m.end():
            return None
        line = text[ls:le + 1]
        prefix = m.start() - ls
        path = _Path(line)
        if path.walk(self.ops, prefix) != len(line) - 1:
            return None
        # the path is the regex's own match: the same end and captures (else this is not understood: no fast path)
        for gid in range(1, self.regex.groups + 1):
            span = path.caps.get(gid, (-1, -1)) or (-1, -1)
            if span != (-1, -1):
                span = (span[0] + ls, span[1] + ls)
            if span != m.span(gid):
                return None
        for o in range(prefix):  # no earlier start on the line can match: the head differs there
            if all(o + j < len(line) and line[o + j] in s for j, s in enumerate(self.head)):
                return None
        try:
            return Template(line, prefix, path)
        except Unsupported:
            return None


def compile_shape(pattern: bytes, flags: int) -> Program | None:
    """The Program of a shape's regex, or None where it is not one this module reads or no template would gain
    (`worth`)."""
    try:
        prog = Program(pattern, flags)
    except (Unsupported, re.error, IndexError, TypeError, ValueError):
        return None
    return prog if worth(prog) else None


def worth(prog: Program) -> bool:
    """Whether a template's split is worth its cost: where the shape starts with a literal of 3 bytes or more, the
    regex engine skips to it at memchr speed, and the template's split was no faster (Megatron, DeepSpeed-Chat: the
    same or slower, measured); a pattern of literals and value runs only gains nothing either (torchtune). A head
    led by a class (`[Ii]ter`, `[Ss]tep`: the generic reader's kinds) is tried at every byte of its class."""
    first = prog.ops[0]
    if first[0] == "lit" and len(first[1]) >= 3:
        return False
    return any(op[0] not in ("lit", "run", "end") for op in prog.ops)


def _gids(ops) -> set:
    out = set()
    for op in ops:
        if op[0] == "run" and op[3] is not None:
            out.add(op[3])
        elif op[0] == "group":
            out |= _gids(op[1])
    return out


