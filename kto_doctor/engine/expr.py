"""The rule expression language: a small, safe, vectorised subset of Python expressions.

Rule files come from strangers, so an expression is parsed with `ast.parse(mode="eval")` and checked
against an allow-list of node types at load time, then lowered to nested lists (`lower`: `["+", a, b]`,
`["n", "rewards", "chosen"]`...) that evaluation walks with our own code; the compiled built-in rules store
that form, so a start parses no expression. Nothing ever reaches Python's `eval`, `getattr`, `pandas.eval`
or `DataFrame.query`.

Values are either scalars (float, bool, str, None) or pandas Series indexed by global step (the logged
values of a metric, or something computed from them). Operators broadcast and align on step; `and`,
`or`, `not` are element-wise on Series; a NaN is never True; `None` (a config key or metric that is not
there) propagates through arithmetic and makes comparisons False.

Names:
  loss, grad_norm, rewards.chosen      a metric (dots stand for the slashes of `rewards/chosen`)
  m("memory(GiB)")                     a metric whose name is not an identifier
  config.learning_rate                 a configuration key (None when the run does not say)
  params.window                        a rule parameter (checked at load time)
  run.method, run.framework, run.first_step, run.last_step, run.logged
  run.metrics, run.unknown_metrics, run.core_series, run.nonfinite_metrics   (lists of metric names)
  run.never_finite_metrics             the series logged on 2+ rows with no finite value on any of them
  run.core_missing                     none of the method's core series was read
  run.task_metric, run.task_best, run.task_last, run.task_shortfall   the eval task metric (WER, accuracy,
                                       BLEU...) furthest from its best at the end, and that distance (relative)
  run.task_best_step                   the step of that metric's best evaluation (the first, on a tie)
  run.task_gain                        its improvement (relative) from the eval loss's lowest point to its best
  run.task_first                       that metric's first evaluation
  run.task_direction                   'lower' or 'higher': which way that metric improves (the ontology's)
  run.reward_components, run.silent_rewards   the per-function reward series (`rewards/<function>/mean`) and
                                       those of them that are exactly 0 on every logged row
  run.pinned_rewards                   the correctness terms whose mean is the same value strictly between 0 and 1
                                       on every row, training and evaluation (3 at the least): a constant returned
  run.step_restarts                    how many times the step counter went back to an earlier step (relaunches)
  run.correctness_rewards              the per-function rewards whose name says they score the answer (accuracy,
                                       correct, exact, match, answer, solve, verify, pass)
  run.unearned_correctness_rewards     the correctness terms still unearned at the end (last fifth: median <= 0, mean
                                       under 0.05; not exactly 0 throughout, which is silent_rewards)
  run.risen_rewards                    the per-function rewards up 10% of their level, first fifth to last (means)
  run.fallen_correctness_rewards       the correctness terms (accuracy, exact match...) that fell to half or less
  step                                 the global step of every logged row
  true, false, none, nan, inf          constants
  <let name>                           a value defined earlier in the rule's `let:` block
"""
from __future__ import annotations

import ast
import difflib
import math
from dataclasses import field
from typing import Any, Callable

from ..fastclass import dataclass

MAX_SOURCE_CHARS = 2000
MAX_DEPTH = 40
MAX_NODES = 500
MAX_EXPONENT = 1024.0
MAX_STRING = 2000

NAMESPACES = ("config", "params", "run")
RUN_FIELDS = ("method", "framework", "first_step", "last_step", "logged", "metrics", "unknown_metrics",
              "core_series", "core_missing", "nonfinite_metrics", "never_finite_metrics",
              "task_metric", "task_best", "task_last", "task_shortfall", "task_best_step", "task_gain", "task_first",
              "task_direction",
              "reward_components", "silent_rewards", "pinned_rewards", "unearned_correctness_rewards", "correctness_rewards", "step_restarts", "risen_rewards", "fallen_correctness_rewards")


class ExprError(Exception):
    """A rule expression is not valid. `col` and `length` locate the offending token (0-based)."""

    def __init__(self, message: str, col: int = 0, length: int = 1, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.col = col
        self.length = max(1, length)
        self.hint = hint


class EvalError(Exception):
    """An expression failed on this run's data (wrong argument types, for instance)."""


# --------------------------------------------------------------------------------------------------
# Compilation: parse, check against the allow-list, resolve names.
# --------------------------------------------------------------------------------------------------

_BINOPS = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.Pow, ast.FloorDiv)
_CMPOPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)


@dataclass
class Compiled:
    source: str
    tree: ast.AST
    code: list  # the checked tree lowered (`lower`): what evaluation walks
    metrics: set[str] = field(default_factory=set)
    config_keys: set[str] = field(default_factory=set)
    params: set[str] = field(default_factory=set)
    lets: set[str] = field(default_factory=set)

    def evaluate(self, scope: "Scope"):
        return _Evaluator(scope).visit(self.code)


def compile_expr(
    source: str,
    *,
    params: set[str] | frozenset[str] = frozenset(),
    lets: set[str] | frozenset[str] = frozenset(),
    known_metrics: set[str] | None = None,
    declared_metrics: set[str] | frozenset[str] = frozenset(),
) -> Compiled:
    """Parse and check `source`. Raises ExprError pointing at the offending token.

    `known_metrics`: when given, a metric name outside it (and outside `declared_metrics`, the metrics the
    rule itself declares) is an error with a did-you-mean.
    """
    if not isinstance(source, str):
        raise ExprError(f"expected an expression string, got {type(source).__name__}")
    if len(source) > MAX_SOURCE_CHARS:
        raise ExprError(f"expression is {len(source)} characters long; the limit is {MAX_SOURCE_CHARS}")
    text = source.strip()
    if not text:
        raise ExprError("empty expression")
    offset = len(source) - len(source.lstrip())
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        col = (e.offset or 1) - 1 + offset
        raise ExprError(f"syntax error: {e.msg}", col=col) from None
    except (MemoryError, RecursionError):  # CPython's parser gives up on deeply nested source this way
        raise ExprError(f"expression is nested too deeply (more than {MAX_DEPTH} levels)", col=offset) from None
    checker = _Checker(text, offset, set(params), set(lets), known_metrics, set(declared_metrics))
    checker.check(tree.body, 1)
    out = Compiled(source=source, tree=tree, code=lower(tree.body))
    out.metrics, out.config_keys, out.params, out.lets = (
        checker.metrics, checker.config_keys, checker.used_params, checker.used_lets)
    return out


_BINARY = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.Mod: "%", ast.Pow: "**", ast.FloorDiv: "//"}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.In: "in",
            ast.NotIn: "not in"}
_UNARY = {ast.Not: "not", ast.USub: "neg", ast.UAdd: "pos"}


def lower(node: ast.AST) -> list:
    """A checked expression tree as nested lists, an operation name first (JSON data, no code):
    ["k", constant] (ints as floats), ["n", *dotted name], ["m", metric name], ["call", function, *args],
    ["and"|"or", *values], ["not"|"neg"|"pos", x], [binary operator, a, b], ["cmp", left, [operators],
    [right sides]], ["if", test, then, else], ["list", *items]."""
    if isinstance(node, ast.Constant):
        v = node.value
        return ["k", float(v) if isinstance(v, int) and not isinstance(v, bool) else v]
    if isinstance(node, (ast.Name, ast.Attribute)):
        return ["n", *dotted_name(node)]
    if isinstance(node, ast.BoolOp):
        return ["and" if isinstance(node.op, ast.And) else "or", *map(lower, node.values)]
    if isinstance(node, ast.UnaryOp):
        return [_UNARY[type(node.op)], lower(node.operand)]
    if isinstance(node, ast.BinOp):
        return [_BINARY[type(node.op)], lower(node.left), lower(node.right)]
    if isinstance(node, ast.Compare):
        return ["cmp", lower(node.left), [_COMPARE[type(op)] for op in node.ops], [lower(c) for c in node.comparators]]
    if isinstance(node, ast.IfExp):
        return ["if", lower(node.test), lower(node.body), lower(node.orelse)]
    if isinstance(node, (ast.List, ast.Tuple)):
        return ["list", *map(lower, node.elts)]
    if isinstance(node, ast.Call) and node.func.id == "m":
        return ["m", node.args[0].value]
    if isinstance(node, ast.Call):
        return ["call", node.func.id, *map(lower, node.args)]
    raise ExprError(f"{type(node).__name__} not allowed in rule expressions")  # (the checker refused it first)


def dotted_name(node: ast.AST) -> list[str] | None:
    """`a.b.c` as ["a", "b", "c"], or None when the node is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return parts[::-1]
    return None


class _Checker:
    def __init__(self, text, offset, params, lets, known_metrics, declared):
        self.text, self.offset = text, offset
        self.params, self.lets = params, lets
        self.known_metrics, self.declared = known_metrics, declared
        self.metrics: set[str] = set()
        self.config_keys: set[str] = set()
        self.used_params: set[str] = set()
        self.used_lets: set[str] = set()
        self.nodes = 0

    def fail(self, node, message, hint=None):
        col = getattr(node, "col_offset", 0)
        end = getattr(node, "end_col_offset", col + 1) or col + 1
        raise ExprError(message, col=col + self.offset, length=end - col, hint=hint)

    def check(self, node, depth):
        self.nodes += 1
        if self.nodes > MAX_NODES:
            self.fail(node, f"expression is too large (more than {MAX_NODES} parts)")
        if depth > MAX_DEPTH:
            self.fail(node, f"expression is nested too deeply (more than {MAX_DEPTH} levels)")
        if isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float, str, bool)) and node.value is not None:
                self.fail(node, f"constant of type {type(node.value).__name__} is not allowed")
            if isinstance(node.value, str) and len(node.value) > 200:
                self.fail(node, "string constants are limited to 200 characters")
            if isinstance(node.value, int) and not isinstance(node.value, bool) and abs(node.value) > 1e308:
                self.fail(node, "number too large")
            return
        if isinstance(node, (ast.Name, ast.Attribute)):
            self.resolve(node)
            return
        if isinstance(node, ast.BoolOp):
            for v in node.values:
                self.check(v, depth + 1)
            return
        if isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd)):
                self.fail(node, "operator not allowed (use not, -, +)")
            self.check(node.operand, depth + 1)
            return
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, _BINOPS):
                self.fail(node, "operator not allowed (use + - * / // % **)")
            if isinstance(node.op, ast.Pow) and isinstance(node.right, ast.Constant):
                v = node.right.value
                if isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) > MAX_EXPONENT:
                    self.fail(node.right, f"exponent {v} is too large (limit {MAX_EXPONENT:g})")
            self.check(node.left, depth + 1)
            self.check(node.right, depth + 1)
            return
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if not isinstance(op, _CMPOPS):
                    self.fail(node, "comparison not allowed (use == != < <= > >= in, not in)")
            self.check(node.left, depth + 1)
            for c in node.comparators:
                self.check(c, depth + 1)
            return
        if isinstance(node, ast.IfExp):
            for v in (node.test, node.body, node.orelse):
                self.check(v, depth + 1)
            return
        if isinstance(node, (ast.List, ast.Tuple)):
            if len(node.elts) > 64:
                self.fail(node, "lists are limited to 64 items")
            for e in node.elts:
                if not isinstance(e, ast.Constant):
                    self.fail(e, "list items must be constants")
                self.check(e, depth + 1)
            return
        if isinstance(node, ast.Call):
            self.check_call(node, depth)
            return
        kind = type(node).__name__
        friendly = {
            "Lambda": "lambda", "ListComp": "comprehensions", "GeneratorExp": "comprehensions",
            "SetComp": "comprehensions", "DictComp": "comprehensions", "Subscript": "subscripts ([...])",
            "JoinedStr": "f-strings", "NamedExpr": "assignment (:=)", "Starred": "* unpacking",
            "Dict": "dict literals", "Set": "set literals", "Await": "await", "Yield": "yield",
        }.get(kind, kind)
        self.fail(node, f"{friendly} not allowed in rule expressions")

    def check_call(self, node, depth):
        if not isinstance(node.func, ast.Name):
            self.fail(node.func, "only the built-in rule functions can be called (no methods or attributes)")
        name = node.func.id
        if node.keywords:
            self.fail(node.keywords[0].value, "keyword arguments are not supported; pass arguments by position")
        if name == "m":
            if len(node.args) != 1 or not isinstance(node.args[0], ast.Constant) or not isinstance(node.args[0].value, str):
                self.fail(node, 'm() takes one metric name in quotes, e.g. m("memory(GiB)")')
            self.add_metric(node.args[0].value, node.args[0])
            return
        spec = FUNCTIONS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(FUNCTIONS) + ["m"], n=1)
            self.fail(node.func, f"unknown function '{name}'",
                      hint=f"did you mean '{close[0]}'?" if close else "see `kto-doctor rules functions`")
        lo, hi = spec.arity
        n = len(node.args)
        if n < lo or (hi is not None and n > hi):
            want = f"{lo}" if lo == hi else (f"{lo} to {hi}" if hi is not None else f"at least {lo}")
            self.fail(node, f"{name}() takes {want} argument(s), got {n}", hint=f"{name}{spec.signature}")
        for a in node.args:
            if isinstance(a, ast.Starred):
                self.fail(a, "* unpacking not allowed")
            self.check(a, depth + 1)

    def resolve(self, node):
        parts = dotted_name(node)
        if parts is None:
            self.fail(node, "attribute access is only allowed on names (config.x, params.x, run.x, rewards.chosen)")
        if any(p.startswith("_") for p in parts):
            self.fail(node, "names starting with '_' are not allowed")
        head = parts[0]
        if head in NAMESPACES:
            if len(parts) != 2:
                self.fail(node, f"write {head}.<key>")
            key = parts[1]
            if head == "params":
                if key not in self.params:
                    close = difflib.get_close_matches(key, sorted(self.params), n=1)
                    self.fail(node, f"unknown parameter '{key}'",
                              hint=f"did you mean 'params.{close[0]}'?" if close else "declare it under params:")
                self.used_params.add(key)
            elif head == "run":
                if key not in RUN_FIELDS:
                    self.fail(node, f"unknown run field '{key}'", hint="run fields: " + ", ".join(RUN_FIELDS))
            else:
                self.config_keys.add(key)
            return
        if len(parts) == 1 and head in self.lets:
            self.used_lets.add(head)
            return
        if len(parts) == 1 and head == "step":
            return
        if len(parts) == 1 and head.lower() in ("true", "false", "none", "null", "nan", "inf"):
            return
        self.add_metric("/".join(parts), node)

    def add_metric(self, name, node):
        if self.known_metrics is not None and name not in self.known_metrics and name not in self.declared:
            pool = sorted(self.known_metrics | self.declared | self.lets)
            close = difflib.get_close_matches(name, pool, n=1, cutoff=0.7)
            self.fail(node, f"unknown metric '{name}'",
                      hint=(f"did you mean '{close[0].replace('/', '.')}'?" if close
                            else "declare custom metrics under requires.metrics or optional_metrics"))
        self.metrics.add(name)


# --------------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------------


@dataclass
class Scope:
    """What names resolve to while a rule is evaluated."""

    metric: Callable[[str], Any]  # name -> pandas Series (logged values) or None
    config: dict
    params: dict
    run: dict
    lets: dict = field(default_factory=dict)
    steps: Any = None  # pandas Series: step -> step, over every logged row; or a function that builds it


def _pd():
    import pandas as pd

    return pd


def _np():
    import numpy as np

    return np


def is_series(v) -> bool:
    # Asked of the type: `values` of a Series instance is a property that builds an array.
    t = type(v)
    return hasattr(t, "index") and hasattr(t, "values") and not issubclass(t, (str, bytes))


def truthy_mask(v):
    """A boolean Series (NaN → False) from a Series, or a Python bool from a scalar (None → False)."""
    if is_series(v):
        if v.dtype == bool:
            return v
        np = _np()
        vals = v.to_numpy(dtype=float, na_value=np.nan)
        return _pd().Series((vals != 0) & ~np.isnan(vals), index=v.index, copy=False)
    if v is None:
        return False
    if isinstance(v, float) and math.isnan(v):
        return False
    return bool(v)


class _Evaluator:
    """Walks a lowered expression (`lower`); `visit` dispatches on the operation name."""

    def __init__(self, scope: Scope):
        self.s = scope

    def visit(self, code):
        return _VISIT[code[0]](self, code)

    # names -----------------------------------------------------------------------------------------
    def v_constant(self, code):
        return code[1]

    def v_name(self, code):
        return self.lookup(code[1:])

    def lookup(self, parts):
        head = parts[0]
        if head == "config":
            return _scalar(self.s.config.get(parts[1]))
        if head == "params":
            return _scalar(self.s.params.get(parts[1]))
        if head == "run":
            return _scalar(self.s.run.get(parts[1]))
        if len(parts) == 1:
            if head in self.s.lets:
                return self.s.lets[head]
            if head == "step":
                steps = self.s.steps
                return steps() if callable(steps) else steps
            low = head.lower()
            if low in ("true", "false"):
                return low == "true"
            if low in ("none", "null"):
                return None
            if low in ("nan", "inf"):
                return math.nan if low == "nan" else math.inf
        return self.s.metric("/".join(parts))

    # operators -------------------------------------------------------------------------------------
    def v_bool(self, code):
        is_and = code[0] == "and"
        acc = None
        for sub in code[1:]:
            v = truthy_mask(self.visit(sub))
            if acc is None:
                acc = v
            else:
                acc = _combine(acc, v, is_and)
            # Short-circuit only on scalars: a Series must be combined element-wise.
            if not is_series(acc) and acc is (not is_and):
                return acc
        return acc

    def v_unary(self, code):
        v = self.visit(code[1])
        if code[0] == "not":
            m = truthy_mask(v)
            return ~m if is_series(m) else (not m)
        if v is None:
            return None
        _require_number(v, "unary minus")
        return -v if code[0] == "neg" else v

    def v_binary(self, code):
        op = code[0]
        a, b = self.visit(code[1]), self.visit(code[2])
        if a is None or b is None:
            return None
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_STRING:
                raise EvalError(f"text longer than {MAX_STRING} characters")
            return a + b
        _require_number(a, "arithmetic")
        _require_number(b, "arithmetic")
        np = _np()
        with np.errstate(all="ignore"):
            try:
                if op == "+":
                    return a + b
                if op == "-":
                    return a - b
                if op == "*":
                    return a * b
                if op == "/":
                    return _div(a, b)
                if op == "//":
                    return np.floor(_div(a, b))
                if op == "%":
                    if not is_series(b) and float(b) == 0:
                        return math.nan
                    return a % b
                if op == "**":
                    if not is_series(b) and abs(float(b)) > MAX_EXPONENT:
                        raise EvalError(f"exponent {b:g} is too large")
                    if is_series(a) or is_series(b):
                        return np.power(a * 1.0, b)
                    try:
                        return float(a) ** float(b)
                    except OverflowError:
                        return math.inf
                    except (ZeroDivisionError, ValueError):
                        return math.nan
            except TypeError as e:
                raise EvalError(str(e)) from None
        raise EvalError("unsupported operator")

    def v_compare(self, code):
        left = self.visit(code[1])
        if len(code[2]) == 1:  # one comparison: what `_combine(True, r, True)` below gives, without a mask of True
            r = _compare(code[2][0], left, self.visit(code[3][0]))
            return r.rename(None) if is_series(r) else r  # (`&` of an unnamed mask and r: no name)
        acc = True
        for op, comp in zip(code[2], code[3]):
            right = self.visit(comp)
            acc = _combine(truthy_mask(acc), _compare(op, left, right), True)
            left = right
        return acc

    def v_if(self, code):
        test = truthy_mask(self.visit(code[1]))
        if is_series(test):
            return FUNCTIONS["where"].fn(test, self.visit(code[2]), self.visit(code[3]))
        return self.visit(code[2]) if test else self.visit(code[3])

    def v_list(self, code):
        return [self.visit(e) for e in code[1:]]

    def v_metric(self, code):
        return self.s.metric(code[1])

    def v_call(self, code):
        name = code[1]
        spec = FUNCTIONS[name]
        args = [self.visit(a) for a in code[2:]]
        try:
            return spec.fn(*args)
        except EvalError:
            raise
        except (TypeError, ValueError) as e:
            raise EvalError(f"{name}(): {e}") from None


_VISIT = {"k": _Evaluator.v_constant, "n": _Evaluator.v_name, "m": _Evaluator.v_metric, "call": _Evaluator.v_call,
          "and": _Evaluator.v_bool, "or": _Evaluator.v_bool, "cmp": _Evaluator.v_compare, "if": _Evaluator.v_if,
          "list": _Evaluator.v_list, **{op: _Evaluator.v_unary for op in _UNARY.values()},
          **{op: _Evaluator.v_binary for op in _BINARY.values()}}


def _scalar(v):
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, (list, tuple)):
        return list(v)
    return v


def _require_number(v, what):
    if isinstance(v, str):
        raise EvalError(f"{what} on a string ({v!r}) is not allowed")
    if isinstance(v, list):
        raise EvalError(f"{what} on a list is not allowed")


def _div(a, b):
    np = _np()
    if not is_series(a) and not is_series(b):
        a, b = float(a), float(b)
        if b == 0:
            return math.nan if a == 0 or math.isnan(a) else math.copysign(math.inf, a)
        return a / b
    with np.errstate(all="ignore"):
        return a / b


def _combine(a, b, is_and):
    if is_series(a) or is_series(b):
        pd = _pd()
        if not is_series(a):
            a = pd.Series(bool(a), index=b.index)
        if not is_series(b):
            b = pd.Series(bool(b), index=a.index)
        if not a.index.equals(b.index):
            merged = _merge_sorted(a, b, is_and)
            return merged if merged is not None else _combine_aligned(a, b, is_and)
        if a.dtype == bool and b.dtype == bool:  # pandas' `&`, `|` on the arrays (its own make 4 more masks)
            np = _np()
            out = (np.logical_and if is_and else np.logical_or)(a.to_numpy(), b.to_numpy())
            return pd.Series(out, index=a.index, name=a.name if a.name == b.name else None, copy=False)
        return (a & b) if is_and else (a | b)
    return (a and b) if is_and else (a or b)


def _combine_aligned(a, b, is_and: bool):
    """Two boolean series over different steps combined the pandas way: over the union of their steps, a row
    one of them lacks counting as False (`_merge_sorted` is tested against this)."""
    idx = a.index.union(b.index)
    a = a.reindex(idx, fill_value=False).astype(bool)
    b = b.reindex(idx, fill_value=False).astype(bool)
    return (a & b) if is_and else (a | b)


def mask_on(m, index):
    """A boolean series over other steps put on `index`, False where it has no row: `m.reindex(index,
    fill_value=False).astype(bool)`, by one merge of the two step lists where both are increasing steps of one
    integer type (the reindex builds a hash table of m's steps, about 30 bytes a row, and keeps it on m's
    index)."""
    if not (m.dtype == bool and _sorted_ints(m.index, index)):
        return m.reindex(index, fill_value=False).astype(bool)
    _, _, rows = index.join(m.index, how="left", return_indexers=True)  # m's row of each step of index
    return _pd().Series(_placed(m.to_numpy(), rows, len(index)), index=index, name=m.name, copy=False)


def _sorted_ints(*indexes) -> bool:
    """Every index increasing, without repeats, of one integer type: what a merge of them needs."""
    first = indexes[0].dtype
    return all(ix.dtype == first and first.kind in "iu" and ix.is_monotonic_increasing and ix.is_unique
               for ix in indexes)


def _placed(values, rows, n: int):
    """values[rows] as a new boolean array of n rows, False where rows is -1 (None: values as they are)."""
    np = _np()
    if rows is None:
        return np.array(values, dtype=bool)
    if not len(values):
        return np.zeros(n, dtype=bool)
    out = values[rows]
    out &= rows >= 0
    return out


_BLOCK = 1 << 16  # rows of a step list looked at at once: a difference or a remainder of a whole one is as large as it


def _on_grid(part, steps):
    """(first, stride) when `steps` are `first + stride * k` (a run logged every N steps: nearly every run) and
    hold every one of the increasing steps `part`: where each of them is in `steps` is then arithmetic
    (`_grid_rows`), no merge (an outer join of two 558k-row step lists makes the union and two row arrays,
    13.5 MB at once). Else None."""
    np = _np()
    n = len(steps)
    if n < 2 or not len(part):
        return None
    first, stride = int(steps[0]), int(steps[1] - steps[0])
    if stride <= 0 or int(steps[-1]) - first != stride * (n - 1) or part[0] < first or part[-1] > steps[-1]:
        return None
    for lo in range(0, n - 1, _BLOCK):
        if not (np.diff(steps[lo:lo + _BLOCK + 1]) == stride).all():
            return None
    if stride > 1:
        for lo in range(0, len(part), _BLOCK):
            if ((part[lo:lo + _BLOCK] - first) % stride).any():
                return None
    return first, stride


def _grid_rows(part, grid):
    """(slice of part, the rows of those steps in the grid's steps), a block at a time (see `_on_grid`)."""
    first, stride = grid
    for lo in range(0, len(part), _BLOCK):
        rows = part[lo:lo + _BLOCK] - first
        if stride > 1:
            rows //= stride
        yield slice(lo, lo + _BLOCK), rows


def _merge_sorted(a, b, is_and: bool):
    """`_combine` of two boolean series over different steps, when both are logged at increasing, distinct steps
    of one integer type (every series of a run): the union of the steps and each mask's row at each of them
    from one merge of the two step lists (pandas' outer join). pandas' union and reindex give the same rows and
    values, through a hash table of the steps (about 30 bytes a row, kept on the index) and two reindexed
    copies. None when the fast way does not apply."""
    ia, ib = a.index, b.index
    if not (a.dtype == bool and b.dtype == bool and _sorted_ints(ia, ib)):
        return None
    if len(ia) > len(ib):
        a, b, ia, ib = b, a, ib, ia  # (and, or: the same either way round)
    part = ia.to_numpy()
    grid = _on_grid(part, ib.to_numpy())
    if grid is not None:  # b's steps hold a's: they are the union, and a's rows among them are arithmetic
        np = _np()
        out = np.zeros(len(ib), dtype=bool) if is_and else b.to_numpy().copy()
        values = a.to_numpy()
        for at, rows in _grid_rows(part, grid):
            if is_and:
                out[rows] = values[at]
            else:
                out[rows] |= values[at]
        if is_and:
            out &= b.to_numpy()
        return _pd().Series(out, index=ib, name=a.name if a.name == b.name else None, copy=False)
    index, rows_a, rows_b = ia.join(ib, how="outer", return_indexers=True)
    if len(index) == len(ia) or len(index) == len(ib):  # the steps of one of them (the other's are among them)
        index = ia if len(index) == len(ia) else ib
    out = _placed(a.to_numpy(), rows_a, len(index))
    other = _placed(b.to_numpy(), rows_b, len(index))
    if is_and:
        out &= other
    else:
        out |= other
    del other
    return _pd().Series(out, index=index, name=a.name if a.name == b.name else None, copy=False)


def _compare(op: str, a, b):
    if op in ("in", "not in"):
        if is_series(a):
            raise EvalError("'in' works on config values and constants, not on metric series")
        if not isinstance(b, list):
            raise EvalError("the right side of 'in' must be a list, e.g. config.loss_type in ['ipo', 'hinge']")
        res = a in b
        return res if op == "in" else not res
    if a is None or b is None:
        if op == "==":
            return a is None and b is None
        if op == "!=":
            return not (a is None and b is None)
        return False
    if isinstance(a, str) or isinstance(b, str):
        if op == "==":
            return a == b if not (is_series(a) or is_series(b)) else False
        if op == "!=":
            return a != b if not (is_series(a) or is_series(b)) else True
        raise EvalError("strings can only be compared with == and !=")
    np = _np()
    if is_series(a) and is_series(b) and not a.index.equals(b.index):
        # two series logged at different steps (kl every other step, loss every step) are compared on the union
        # of their steps, as arithmetic on them is; a step where one of them was not logged compares as NaN
        a, b = a.align(b, join="outer")
    with np.errstate(invalid="ignore"):
        if op == "==":
            r = a == b
        elif op == "!=":
            r = a != b
        elif op == "<":
            r = a < b
        elif op == "<=":
            r = a <= b
        elif op == ">":
            r = a > b
        else:
            r = a >= b
    if is_series(r):
        return r.fillna(False).astype(bool) if r.dtype != bool else r
    return bool(r)


# The function table lives in functions.py; imported late to keep this module about the language.
from .functions import FUNCTIONS  # noqa: E402
