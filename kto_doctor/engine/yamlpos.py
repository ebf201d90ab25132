"""YAML loading that remembers where every value came from, so rule errors point at file:line:col.

Only PyYAML's safe constructors are used (no tags that build Python objects).
"""
from __future__ import annotations

from dataclasses import dataclass

import yaml


@dataclass(frozen=True)
class Pos:
    file: str
    line: int  # 1-based
    col: int  # 1-based
    quoted: bool = False  # the scalar was quoted: its text starts one column later
    block: bool = False  # the scalar is a | or > block: its text starts on the next line

    def at(self, offset: int) -> "Pos":
        """The position `offset` characters into the scalar's text (single-line scalars)."""
        if self.block:
            return Pos(self.file, self.line + 1, self.col + 2 + offset)
        return Pos(self.file, self.line, self.col + offset + (1 if self.quoted else 0))

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class YamlError(Exception):
    def __init__(self, message: str, pos: Pos | None):
        super().__init__(message)
        self.message = message
        self.pos = pos


class PosMap(dict):
    """(key path tuple) -> Pos of the value at that path."""

    def get_pos(self, path, default=None):
        while path:
            if path in self:
                return self[path]
            path = path[:-1]
        return self.get((), default)


_constructor = yaml.constructor.SafeConstructor()


def load(text: str, filename: str):
    """Parse YAML text into plain Python data plus a PosMap. Raises YamlError on malformed YAML."""
    try:
        nodes = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        pos = Pos(filename, mark.line + 1, mark.column + 1) if mark else None
        problem = getattr(e, "problem", None) or str(e)
        raise YamlError(f"invalid YAML: {problem}", pos) from None
    if not nodes:
        return None, PosMap()
    if len(nodes) > 1:
        raise YamlError("a rule file holds one YAML document (found several)", Pos(filename, 1, 1))
    positions = PosMap()
    data = _convert(nodes[0], (), positions, filename, depth=0)
    return data, positions


def _pos(node, filename):
    m = node.start_mark
    style = getattr(node, "style", None)
    return Pos(filename, m.line + 1, m.column + 1, quoted=style in ("'", '"'), block=style in ("|", ">"))


def _convert(node, path, positions, filename, depth):
    if depth > 50:
        raise YamlError("YAML nested too deeply", _pos(node, filename))
    positions[path] = _pos(node, filename)
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
            positions[path + (key, "__key__")] = _pos(k_node, filename)
            out[key] = _convert(v_node, path + (key,), positions, filename, depth + 1)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(v, path + (i,), positions, filename, depth + 1) for i, v in enumerate(node.value)]
    if node.tag in ("tag:yaml.org,2002:float",) and node.value.lower() in (".nan", ".inf", "-.inf", "+.inf"):
        return _constructor.construct_yaml_float(node)
    value = _constructor.construct_object(node, deep=True)
    # YAML 1.1 reads 1e-6 (no dot) as a string; a number is what every rule author means.
    if isinstance(value, str) and node.style is None:
        try:
            return float(value) if any(c in value for c in ".eE") else int(value)
        except ValueError:
            pass
    return value
