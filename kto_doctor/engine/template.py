"""Message templates: text with `{expression}` or `{expression:format}` fields.

A field is a rule expression (same language, same safety) rendered with a validated format spec,
e.g. "lr {config.learning_rate:.2e} is {lr_ratio:.0%} of peak". `{{` and `}}` are literal braces.
We never call str.format on user text: its field syntax reaches object attributes.
"""
from __future__ import annotations

import math
import re

from ..fastclass import dataclass
from .expr import Compiled, ExprError, compile_expr, is_series

# [[fill]align][sign][#][0][width][,|_][.precision][type]
_SPEC = re.compile(r"^(?:[^{}]?[<>^=])?[+\- ]?#?0?\d{0,3}[,_]?(?:(?:\.\d{1,3})?[eEfFgG%]?|d)$")


@dataclass
class Field:
    expr: Compiled
    spec: str
    start: int  # offset of the expression in the template


@dataclass
class Template:
    source: str
    parts: list  # str | Field

    @property
    def metrics(self) -> set[str]:
        out: set[str] = set()
        for p in self.parts:
            if isinstance(p, Field):
                out |= p.expr.metrics
        return out

    def render(self, evaluate_field) -> str:
        """`evaluate_field(compiled) -> value`; Series values must be reduced by the caller."""
        out = []
        for p in self.parts:
            if isinstance(p, str):
                out.append(p)
            else:
                out.append(format_value(evaluate_field(p.expr), p.spec))
        return "".join(out)


def compile_template(source: str, **compile_kw) -> Template:
    if not isinstance(source, str):
        raise ExprError("expected text")
    parts: list = []
    buf = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "{":
            if i + 1 < n and source[i + 1] == "{":
                buf.append("{")
                i += 2
                continue
            end = source.find("}", i)
            if end < 0:
                raise ExprError("unclosed '{' in template", col=i)
            body = source[i + 1:end]
            expr_text, spec = _split_spec(body)
            if spec and not _SPEC.match(spec):
                raise ExprError(f"invalid format spec ':{spec}' (use e.g. :.3g, :.2e, :.1%, :,d)",
                                col=i + 1 + len(expr_text) + 1, length=len(spec))
            try:
                compiled = compile_expr(expr_text, **compile_kw)
            except ExprError as e:
                raise ExprError(e.message, col=i + 1 + e.col, length=e.length, hint=e.hint) from None
            if buf:
                parts.append("".join(buf))
                buf = []
            parts.append(Field(compiled, spec, i + 1))
            i = end + 1
            continue
        if c == "}":
            if i + 1 < n and source[i + 1] == "}":
                buf.append("}")
                i += 2
                continue
            raise ExprError("single '}' in template (write '}}' for a brace)", col=i)
        buf.append(c)
        i += 1
    if buf:
        parts.append("".join(buf))
    return Template(source, parts)


def _split_spec(body: str):
    """Split 'expr:spec' at the last ':' that is outside brackets and quotes."""
    depth, quote = 0, None
    cut = -1
    for j, ch in enumerate(body):
        if quote:
            if ch == quote:
                quote = None
            continue
        if ch in "'\"":
            quote = ch
        elif ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == ":" and depth == 0:
            cut = j
    if cut < 0:
        return body, ""
    return body[:cut], body[cut + 1:]


# Names a template prints from one list (the series a run logged): a verl run logs 150 and more, and a sentence
# that long would exceed the engine's string limit and leave the rule unevaluated.
MAX_LISTED = 12


def format_value(v, spec: str = "") -> str:
    if is_series(v):
        v = v.iloc[0] if len(v) else None
    if v is None:
        return "n/a"
    if isinstance(v, bool) or type(v).__name__ == "bool_":
        return "true" if v else "false"
    if isinstance(v, str):
        return v
    if isinstance(v, list):  # a list of names: a report names the first ones and counts the rest
        shown = [format_value(x) for x in v[:MAX_LISTED]]
        more = len(v) - len(shown)
        return ", ".join(shown) + (f" and {more} more" if more else "")
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if spec:
        try:
            if spec.endswith("d") or (spec.endswith(",") or spec.endswith("_")):
                return format(int(round(f)), spec)
            return format(f, spec)
        except (ValueError, OverflowError):
            return format(f, ".4g")
    if f == int(f) and abs(f) < 1e15:
        return str(int(f))
    return format(f, ".4g")
