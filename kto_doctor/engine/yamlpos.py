"""YAML loading that remembers where every value came from, so rule errors point at file:line:col.

Only PyYAML's safe constructors are used, and only the core YAML tags are accepted: an explicit tag such as
`!!python/object` is an error, never data. Rule files come from strangers, so the size of what a file may
expand to is bounded: aliases are followed, but the number of values built (MAX_VALUES) and the text size
(MAX_TEXT) are capped, which defuses "billion laughs" alias bombs.
"""
from __future__ import annotations

import yaml

from .pos import Pos  # (re-exported: rule errors and tools name it yamlpos.Pos)

MAX_TEXT = 2_000_000  # characters in one rule file
MAX_VALUES = 100_000  # values (scalars, lists, mappings) built from one file, aliases expanded
SAFE_TAGS = frozenset("tag:yaml.org,2002:" + t for t in (
    "str", "int", "float", "bool", "null", "map", "seq", "timestamp"))


class YamlError(Exception):
    def __init__(self, message: str, pos: Pos | None):
        super().__init__(message)
        self.message = message
        self.pos = pos


class PosMap(dict):
    """(key path tuple) -> Pos of the value at that path.

    Entries are stored as the YAML node and turned into a Pos only when asked for (an error, a column
    for a caret): a rule set has thousands of nodes and almost none of them is ever reported.
    """

    def __init__(self, filename: str = "", src=None):
        super().__init__()
        self._filename, self._src = filename, src
        self._made: dict = {}  # path -> Pos already built (the node stays, for comment_after)

    def __getitem__(self, path):
        pos = self._made.get(path)
        if pos is not None:
            return pos
        value = super().__getitem__(path)
        if isinstance(value, Pos):
            return value
        pos = _pos(value, self._filename, self._src)
        self._made[path] = pos
        return pos

    def get(self, path, default=None):
        return self[path] if path in self else default

    def comment_after(self, path) -> "Pos | None":
        """Where a YAML comment starts right after the plain (unquoted) scalar at `path`, on its last line.

        In prose fields this is almost always text cut short: `Upgrade (PR #1499 ...)` unquoted is the
        value `Upgrade (PR`. None when the value is quoted, a block, not a scalar, or not followed by `#`.
        """
        if path not in self:
            return None
        node = dict.__getitem__(self, path)
        if isinstance(node, Pos) or not isinstance(node, yaml.ScalarNode) or node.style not in (None, ""):
            return None
        if self._src is None:
            return None
        text, starts = self._src
        em = node.end_mark
        if em.line >= len(starts):
            return None
        line_end = text.find("\n", starts[em.line])
        rest = text[starts[em.line] + em.column:line_end if line_end >= 0 else len(text)]
        stripped = rest.lstrip(" \t")
        if not stripped.startswith("#"):
            return None
        return Pos(self._filename, em.line + 1, em.column + 1 + len(rest) - len(stripped))

    def get_pos(self, path, default=None):
        while path:
            if path in self:
                return self[path]
            path = path[:-1]
        return self.get((), default)


_constructor = yaml.constructor.SafeConstructor()
# libyaml's parser when PyYAML was built with it (5-10x faster); same nodes, same marks.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load(text: str, filename: str):
    """Parse YAML text into plain Python data plus a PosMap. Raises YamlError on malformed YAML."""
    if len(text) > MAX_TEXT:
        raise YamlError(f"file is {len(text):,} characters long; rule files are limited to {MAX_TEXT:,}",
                        Pos(filename, 1, 1))
    try:
        nodes = list(yaml.compose_all(text, Loader=_Loader))
    except (RecursionError, MemoryError):
        raise YamlError("YAML nested too deeply", Pos(filename, 1, 1)) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise YamlError(f"invalid YAML: {problem}", pos) from None
    if not nodes:
        return None, PosMap()
    if len(nodes) > 1:
        raise YamlError("a rule file holds one YAML document (found several)", Pos(filename, 1, 1))
    starts = [0]
    i = text.find("\n")
    while i >= 0:
        starts.append(i + 1)
        i = text.find("\n", i + 1)
    src = (text, starts)
    positions = PosMap(filename, src)
    budget = [MAX_VALUES]
    try:
        data = _convert(nodes[0], (), positions, filename, 0, budget, src)
    except yaml.YAMLError as e:  # a constructor refusing a value: still a located, clean error
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else None
        raise YamlError(f"invalid YAML value: {getattr(e, 'problem', None) or e}", pos) from None
    return data, positions


def _pos(node, filename, src=None):
    m = node.start_mark
    style = getattr(node, "style", None)
    segments = _segments(node, src) if src is not None and isinstance(node, yaml.ScalarNode) else ()
    return Pos(filename, m.line + 1, m.column + 1, quoted=style in ("'", '"'), block=style in ("|", ">"),
               segments=segments)


def _segments(node, src) -> tuple:
    """For each source line of a scalar's text: (offset of that line's text in the value, line, col).

    Plain and quoted scalars fold line breaks into one space and drop the indentation of continuation
    lines; | and > blocks start on the line after the indicator, at the block's indentation (more-indented
    lines keep their extra spaces in the value, so they map column for column). Escapes in double-quoted
    scalars and blank lines inside folded blocks can shift the column by a character or two.
    """
    sm, em = node.start_mark, node.end_mark
    text, starts = src  # marks from libyaml carry no buffer: locate by line and column (characters)
    if sm.line >= len(starts) or em.line >= len(starts):
        return ()
    raw = text[starts[sm.line] + sm.column:starts[em.line] + em.column]
    lines = raw.split("\n")
    if len(lines) > 2000:
        return ()
    segs = []
    if node.style in ("|", ">"):
        content = lines[1:]
        indents = [len(ln) - len(ln.lstrip(" ")) for ln in content if ln.strip()]
        indent = min(indents) if indents else 0
        off = 0
        for i, ln in enumerate(content):
            segs.append((off, sm.line + 2 + i, indent + 1))
            off += len(ln[indent:]) + 1
        return tuple(segs)
    q = 1 if node.style in ("'", '"') else 0
    if len(lines) == 1:
        return ((0, sm.line + 1, sm.column + 1 + q),)
    first = lines[0][q:].rstrip(" \t")
    segs.append((0, sm.line + 1, sm.column + 1 + q))
    off = len(first) + 1
    for i, ln in enumerate(lines[1:], start=1):
        body = ln.strip(" \t")
        if not body:
            continue
        lead = len(ln) - len(ln.lstrip(" \t"))
        segs.append((off, sm.line + 1 + i, lead + 1))
        off += len(body) + 1
    return tuple(segs)


def _convert(node, path, positions, filename, depth, budget, src=None):
    if depth > 50:
        raise YamlError("YAML nested too deeply", _pos(node, filename))
    budget[0] -= 1
    if budget[0] < 0:
        raise YamlError(f"YAML expands to more than {MAX_VALUES:,} values (aliases included); "
                        "rule files this large are refused", _pos(node, filename))
    if node.tag not in SAFE_TAGS:
        raise YamlError(f"YAML tag '{node.tag}' is not allowed in rule files (plain values only)",
                        _pos(node, filename))
    positions[path] = node
    if isinstance(node, yaml.MappingNode):
        out = {}
        for k_node, v_node in node.value:
            if not isinstance(k_node, yaml.ScalarNode):
                raise YamlError("mapping keys must be plain strings", _pos(k_node, filename))
            key = _constructor.construct_object(k_node)
            if isinstance(key, bool) or key is None:
                key = k_node.value  # `on:`/`yes:` are keys here, not booleans
            key = str(key)
            if key in out:
                raise YamlError(f"duplicate key '{key}'", _pos(k_node, filename))
            positions[path + (key, "__key__")] = k_node
            out[key] = _convert(v_node, path + (key,), positions, filename, depth + 1, budget, src)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, path + (i,), positions, filename, depth + 1, budget, src) for i, v in enumerate(node.value)]
    if node.tag in ("tag:yaml.org,2002:float",) and node.value.lower() in (".nan", ".inf", "-.inf", "+.inf"):
        return _constructor.construct_yaml_float(node)
    value = _constructor.construct_object(node, deep=True)
    # YAML 1.1 reads 1e-6 (no dot) as a string; a number is what every rule author means.
    if isinstance(value, str) and not node.style:  # plain scalar (libyaml reports style as "")
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return value
