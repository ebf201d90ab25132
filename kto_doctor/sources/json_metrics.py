"""A JSON file that a custom training loop wrote: its logged rows in a list, its settings beside them.

Notebooks and course labs often end with `json.dump({...}, f)` of what they logged:

```
{"base_model": "...", "beta": 0.1, "lr": 5e-07, "epochs": 1.0, "train_loss": 0.676,
 "history": [{"step": 1, "loss": 0.69, "chosen_reward": -0.03, "rejected_reward": -0.02, "reward_gap": -0.01},
             ...]}
```

or a bare list of such rows, or columns of values (`{"train_loss": [...], "eval_acc": [...]}`, Keras'
`history.history`). The rows are the longest list of flat objects (at the top level or one level
down) whose keys name at least one metric the ontology knows. Each row's step is its `step` / `global_step` /
`iteration` / `iter` key; rows without one are placed in file order (an ordinal step the merger maps on the
global axis). Top-level numbers and strings are the run's configuration (`lr`, `beta`, `epochs`...), except
`train_loss`, which HF and custom loops alike write as the mean over the run: a summary fact.

Spellings of preference metrics that such files use for TRL's `rewards/*` are read as them:
`chosen_reward`, `rejected_reward`, `reward_gap`/`reward_margin`, `reward_accuracy`; and, in a file whose
settings state a preference `beta`, the bare `chosen`, `rejected`, `gap`/`margin` and `accuracy` of rows
that also log the loss. A trainer_state.json (`log_history`) is its own source and is not claimed here.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from .base import Columns, SourceData, SourceError, read_bytes, to_float, usable_step
from .registry import Source
from .store_util import Memo

_STEP_KEYS = ("step", "global_step", "iteration", "iter", "train/global_step")
_REWARD_NAMES = {"chosen_reward": "rewards/chosen", "rejected_reward": "rewards/rejected",
                 "reward_gap": "rewards/margins", "reward_margin": "rewards/margins",
                 "reward_accuracy": "rewards/accuracies"}
# bare names that are the implicit rewards only in a preference run (a `beta` in the settings)
_PREFERENCE_NAMES = {"chosen": "rewards/chosen", "rejected": "rewards/rejected", "gap": "rewards/margins",
                     "margin": "rewards/margins", "accuracy": "rewards/accuracies"}
_SUMMARY = ("train_loss",)
# settings spelled the short way such dumps spell them, when the long name is not there too
_SETTINGS = {"lr": "learning_rate", "epochs": "num_train_epochs", "batch_size": "per_device_train_batch_size"}
_MAX_ROWS_SCAN = 50  # rows of a candidate list looked at to decide whether it holds metrics


def _load(path: Path):
    """(document, the damage or None): a damaged document is what can be salvaged before the damage."""
    data = read_bytes(path)
    try:
        return json.loads(data), None
    except ValueError as exc:
        doc = _salvage(data.decode("utf-8", "replace"))
        if doc is None:
            raise SourceError(f"{path}: not valid JSON ({exc}), and no complete row before the damage") from None
        return doc, exc


def read(path: Path) -> SourceData | list[SourceData]:
    doc, damaged = _LAST.raw(path, _load)
    found = _series_points(doc)
    if found is not None:
        holder, points = found
        prefixes = _run_prefixes(points)
        if prefixes:  # several runs in one dump: one SourceData each, its names without the run's prefix
            out = []
            for pre in prefixes:
                own = {n[len(pre) + 1:]: v for n, v in points.items() if n.startswith(pre + "/")}
                src = _build(path, doc, damaged, _points_rows(own), f"{holder} (run `{pre}`: {len(own)} metric "
                             "series of step/value points)")
                src.run_key = pre
                out.append(src)
            return out
        rows, where = _points_rows(points), f"{holder} ({len(points)} metric series of step/value points)"
    else:
        quantity = _quantity(path)
        rows, where = _rows(doc, 1 if damaged is not None else 2)
        if rows is None:
            rows, where = _stepped_columns(doc)
        if rows is None:
            rows, where = _columns(doc, quantity)
        if rows is None:
            rows, where = _tuples(doc, quantity)
    if rows is None:
        raise SourceError(f"{path}: no list of logged metric rows in this JSON file")
    return _build(path, doc, damaged, rows, where)


def _build(path: Path, doc, damaged, rows: list, where: str) -> SourceData:
    src = SourceData(path=path, format="json_metrics")
    if damaged is not None:
        src.warnings.append(f"{path.name}: the JSON is damaged ({damaged}); the {len(rows)} complete row(s) "
                            f"before the damage were read")
    settings = doc if isinstance(doc, dict) else {}
    for key, value in settings.items():
        if isinstance(value, bool) or not isinstance(value, (int, float, str)) or value is rows:
            if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
                src.config[key] = value  # `loss_type: ["sigmoid"]`
            continue
        if key in _SUMMARY:
            f = to_float(value)
            if f is not None:
                src.facts[key] = f
            continue
        src.config[key] = value
    for short, long in _SETTINGS.items():
        if short in src.config and long not in src.config:
            src.config[long] = src.config.pop(short)
    preference = to_float(settings.get("beta")) is not None
    names = dict(_REWARD_NAMES)
    cols = Columns()
    steps, lines, ordinal = [], [], False
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            continue
        step = next((float(row[k]) for k in _STEP_KEYS if k in row and usable_step(row[k])), None)
        if step is None:
            ordinal = True
            step = float(i + 1)
        clean = {}
        for key, value in row.items():
            if key in _STEP_KEYS or isinstance(value, (dict, list)):
                continue
            f = to_float(value)
            if f is None:
                continue
            if preference and key in _PREFERENCE_NAMES and "loss" in row:
                key = _PREFERENCE_NAMES[key]
            clean[names.get(key, key)] = f
        if not clean:
            continue
        eval_row = "loss" not in clean and any(k.startswith("eval_") for k in clean)
        cols.add_row(clean, step, i + 1, eval_row)
        steps.append(step)
        lines.append(i + 1)
        src.records += 1
    if not src.records:
        raise SourceError(f"{path}: the rows under {where} hold no numbers")
    if ordinal:
        if any(k in r for r in rows if isinstance(r, dict) for k in _STEP_KEYS):
            raise SourceError(f"{path}: some rows under {where} state a step and others do not")
        src.step_kind = "ordinal"
    cols.set_steps(np.asarray(steps, dtype=np.float64), np.asarray(lines, dtype=np.int64))
    cols.finish_segments(src, "the step key")
    src.series = cols.build(src)
    if not src.series:
        raise SourceError(f"{path}: no metric the ontology knows in the rows under {where}")
    src.warnings.append(f"{path.name}: a custom JSON dump: {src.records} row(s) read from {where}"
                        + ("; rows without a step were placed in file order" if ordinal else ""))
    return src


_LIST_START = re.compile(r'"([^"\n]{1,64})"\s*:\s*\[')
_SETTING = re.compile(r'"([A-Za-z_][\w.-]{0,63})"\s*:\s*(-?\d[\d.eE+-]*|"[^"\n]{0,200}"|true|false)\s*[,}\n]')


def _salvage(text: str) -> dict | list | None:
    """A cut or damaged dump: the complete rows of each list up to the damage, and the settings written before
    the first list (a dump writes its settings first). None when no complete row is left."""
    dec = json.JSONDecoder()
    named = list(_LIST_START.finditer(text))
    starts = [(m.group(1), m.end()) for m in named]
    if text.lstrip().startswith("["):
        starts.insert(0, ("", text.index("[") + 1))
    if not starts:
        return None
    doc: dict = {}
    head = text[: named[0].start()] if named else ""  # the settings a dump writes before its first list
    for m in _SETTING.finditer(head):
        try:
            doc[m.group(1)] = json.loads(m.group(2))
        except ValueError:
            continue
    for key, pos in starts:
        rows = []
        while True:
            while pos < len(text) and text[pos] in " \t\r\n,":
                pos += 1
            if pos >= len(text) or text[pos] != "{":
                break
            try:
                row, pos = dec.raw_decode(text, pos)
            except ValueError:
                break
            rows.append(row)
        if rows and (key or not doc):
            doc.setdefault(key or "rows", rows)
    lists = [v for v in doc.values() if isinstance(v, list)]
    return doc if lists else None


# What a file's name says its numbers are (`loss_history.json`, `val_acc.json`), for the forms that name no metric
_QUANTITY = (("loss", "loss"), ("perplexity", "perplexity"), ("ppl", "perplexity"))
_TRAIN_ROLES = frozenset({"train", "training", "tr"})
_EVAL_ROLES = frozenset({"val", "valid", "validation", "eval", "evaluation", "dev", "test"})


def _quantity(path: Path) -> str | None:
    stem = path.stem.lower()
    return next((q for word, q in _QUANTITY if word in stem), None)


def _role_names(cols: dict, quantity: str | None) -> dict:
    """`{"train": [...], "val": [...]}` in a file whose name says what they are (`loss_history.json`): the roles
    of one quantity, renamed `loss` and `eval_loss`. Nothing where the name says nothing or a key is no role."""
    if quantity is None or not cols or not set(cols) <= (_TRAIN_ROLES | _EVAL_ROLES) or not set(cols) & _TRAIN_ROLES:
        return {}
    return {k: (quantity if k in _TRAIN_ROLES else "eval_" + quantity) for k in cols}


def _number_lists(doc: dict) -> dict[str, list]:
    """The top-level lists of numbers (or nulls) of a JSON object: the candidate columns."""
    return {k: v for k, v in doc.items() if isinstance(v, list) and v and len(v) <= 10_000_000
            and all(v_ is None or (isinstance(v_, (int, float)) and not isinstance(v_, bool)) for v_ in v[:_MAX_ROWS_SCAN])}


def _columns(doc, quantity: str | None = None) -> tuple[list | None, str]:
    """The column form, `{"train_loss": [...], "train_acc": [...], "eval_acc": [...]}` (a loop's history dict,
    Keras' `history.history`): rows in list order, one per value of the longest metric column. A shorter column
    (evaluations every few rows) is spread evenly over them, its k-th of M values at row round(k x N / M), so its
    last value sits at the end. Columns named by their role only (`{"train": [...], "val": [...]}`) are read as the
    quantity the file's name states (`loss_history.json`: loss and eval_loss)."""
    from ..ontology import canonical, is_known

    if not isinstance(doc, dict):
        return None, ""
    cols = _number_lists(doc)
    roles = _role_names(cols, quantity)
    if roles:
        cols = {roles[k]: v for k, v in cols.items()}
        named = " (their roles, read as " + ", ".join(f"`{k}`: {v}" for k, v in roles.items()) + ", as the file's name says)"
    else:
        named = ""
    known = [k for k in cols if k in _REWARD_NAMES or is_known(canonical(k))]
    n = max((len(cols[k]) for k in known), default=0)
    if n < 2:
        return None, ""
    rows: list[dict] = [{} for _ in range(n)]
    for key, values in cols.items():
        m = len(values)
        for j, value in enumerate(values[:n]):
            rows[n - 1 if m == 1 else max(0, round((j + 1) * n / m) - 1)][key] = value
    return rows, "the columns " + ", ".join(f"`{k}`" for k in (roles or cols)) + named


# a column of steps: `steps`, `train_steps`, `val_iters`, `eval/global_step` ...
_STEP_COLUMN = re.compile(r"(?i)^(?:(?P<pre>.+?)[_/ .-])?(?:global_)?(?:steps?|iters?|iterations?)$")


def _singular(key: str) -> str | None:
    """A column's name in the singular where the plural is no metric name (`train_losses`, `val_accuracies`)."""
    from ..ontology import canonical, is_known

    if is_known(canonical(key)):
        return key
    for plural, one in (("ies", "y"), ("es", ""), ("s", "")):
        if key.endswith(plural) and is_known(canonical(key[: -len(plural)] + one)):
            return key[: -len(plural)] + one
    return None


def _stepped_columns(doc) -> tuple[list | None, str]:
    """Columns with columns of their steps beside them (`{"train_steps": [10, 20 ...], "train_losses": [...],
    "val_steps": [1, 20, 40 ...], "val_losses": [...]}`, a loop's or MLX LoRA's saved curves): each metric column
    takes the step column of its prefix (`train_` for `train_losses`) or the only step column of its length, and
    the rows are the union of their steps. None where a metric column has no step column of its own length."""
    if not isinstance(doc, dict):
        return None, ""
    cols = {k: v for k, v in _number_lists(doc).items() if len(v) >= 2}
    axes = {k: m.group("pre") or "" for k, m in ((k, _STEP_COLUMN.match(k)) for k in cols) if m}
    if not axes:
        return None, ""
    by_step: dict[float, dict] = {}
    pairs = []
    for key, values in cols.items():
        name = None if key in axes else _singular(key)
        if name is None:
            continue
        fits = [a for a in axes if len(cols[a]) == len(values)]
        own = [a for a in fits if axes[a] and key.lower().startswith(axes[a].lower())]
        axis = own[0] if len(own) == 1 else (fits[0] if len(fits) == 1 else None)
        if axis is None:
            return None, ""
        pairs.append(f"`{key}` by `{axis}`")
        for step, value in zip(cols[axis], values):
            if usable_step(step):
                by_step.setdefault(float(step), {"step": float(step)})[name] = value
    if not pairs:
        return None, ""
    return [by_step[k] for k in sorted(by_step)], "the columns " + ", ".join(pairs)


def _series_points(doc) -> tuple[str, dict] | None:
    """The series form, one list of `{"step": N, "value": x}` points per metric (`{"metrics": {"loss": [...],
    "reward_margin": [...]}}`, as trackers export a metric's history), at the top level or one level down:
    (where, {name: points}), or None."""
    if not isinstance(doc, dict):
        return None
    for where, holder in [("the top level", doc)] + [(f"`{k}`", v) for k, v in doc.items() if isinstance(v, dict)]:
        series = {k: v for k, v in holder.items() if isinstance(v, list) and v and all(
            isinstance(p, dict) and "value" in p for p in v[:_MAX_ROWS_SCAN])}
        if series:
            return where, series
    return None


def _points_rows(series: dict) -> list[dict]:
    """One row per step, every metric's point at its step (a point without a step: its place in its list)."""
    by_step: dict = {}
    for name, points in series.items():
        for i, p in enumerate(points):
            if not isinstance(p, dict):
                continue
            step = next((p[k] for k in _STEP_KEYS if k in p and usable_step(p[k])), None)
            by_step.setdefault(float(step) if step is not None else float(i + 1), {})[name] = p.get("value")
    return [dict(row, step=step) for step, row in sorted(by_step.items())]


def _run_prefixes(series: dict) -> list[str]:
    """The runs of a dump that holds several (`ALIGNED/loss`, `GAMING/loss`, ...: every name under a prefix, two
    prefixes or more, each naming a loss or a reward), in file order; [] for one run."""
    prefixes: dict[str, set] = {}
    for name in series:
        if "/" not in name:
            return []
        pre, rest = name.split("/", 1)
        prefixes.setdefault(pre, set()).add(rest.lower())
    if len(prefixes) < 2 or not all(any("loss" in r or "reward" in r for r in rest) for rest in prefixes.values()):
        return []
    return list(prefixes)


_LAST = Memo()  # the last document parsed: `runs` and `read` of one file parse it once
# a step/value series under a prefixed name (`"ALIGNED/loss": [{"step": ...`): a dump that may hold several runs
_PREFIXED_SERIES = re.compile(r'"[^"\n/]{1,64}/[^"\n]{1,64}"\s*:\s*\[\s*\{\s*"(?:step|global_step|value)"\s*:')


def runs(path: Path) -> list[str]:
    """The runs of a dump of several runs' step/value series (their name prefixes); [] for every other file, at the
    cost of its first 64 KB."""
    with open(path, "rb") as f:
        head = f.read(1 << 16).decode("utf-8", "replace")
    if not _PREFIXED_SERIES.search(head):
        return []
    try:
        doc, _ = _LAST.raw(path, _load)
    except SourceError:
        return []
    found = _series_points(doc)
    return _run_prefixes(found[1]) if found is not None else []


def _tuples(doc, quantity: str | None) -> tuple[list | None, str]:
    """Rows of bare numbers, `[[200, 5.95, 6.02], [400, 5.43, 5.55], ...]`, in a file whose name says what they
    are (`loss_history.json`): a rising whole first column is the step, then the training value and, where there is
    a third column, the evaluation's (the order such loops append them in). Read by position: the warning says so."""
    if quantity is None or not isinstance(doc, list) or len(doc) < 2:
        return None, ""
    width = len(doc[0]) if isinstance(doc[0], list) else 0
    if width not in (2, 3) or not all(
            isinstance(r, list) and len(r) == width
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in r) for r in doc):
        return None, ""
    steps = [r[0] for r in doc]
    if not all(float(x).is_integer() and x >= 0 for x in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
        return None, ""
    names = ("step", quantity, "eval_" + quantity)[:width]
    return [dict(zip(names, r)) for r in doc], f"the top level (rows of {width} numbers read by position as " \
        + ", ".join(names) + ")"


def _rows(doc, min_len: int = 2) -> tuple[list | None, str]:
    """The longest list of flat metric rows in the document, and where it is (`history`, `the top level`)."""
    found: list[tuple[int, list, str]] = []
    if isinstance(doc, list):
        found.append((_metric_rows(doc, min_len), doc, "the top level"))
    elif isinstance(doc, dict):
        for key, value in doc.items():
            if isinstance(value, list):
                found.append((_metric_rows(value, min_len), value, f"`{key}`"))
            elif isinstance(value, dict):
                for sub, inner in value.items():
                    if isinstance(inner, list):
                        found.append((_metric_rows(inner, min_len), inner, f"`{key}.{sub}`"))
    found = [f for f in found if f[0] > 0]
    if not found:
        return None, ""
    best = max(found, key=lambda f: (f[0], len(f[1])))
    return best[1], best[2]


def _metric_rows(items: list, min_len: int = 2) -> int:
    """How many of the first rows are objects with a number under a metric name the ontology knows."""
    from ..ontology import canonical, is_known

    hits = 0
    for row in items[:_MAX_ROWS_SCAN]:
        if not isinstance(row, dict):
            return 0
        for key, value in row.items():
            if key in _STEP_KEYS or isinstance(value, bool) or to_float(value) is None:
                continue
            if key in _REWARD_NAMES or is_known(canonical(key)):
                hits += 1
                break
    return hits if len(items) >= min_len else 0


# a list of numbers under a loss name at the top level: the column form (`{"train_loss": [0.69, ...], ...}`)
_LOSS_COLUMN = re.compile(r'^\{\s*(?:"[^"\n]{1,64}"\s*:\s*\[[^\[\]{}]*\]\s*,\s*)*"(?:\w*_)?loss"\s*:\s*\[\s*-?(?:\d|NaN)')
# a list of objects whose first object logs a loss or a reward: the rows of a dump
_ROW_LIST = re.compile(r'(?:^\s*|"[^"\n]{1,64}"\s*:\s*)\[\s*\{[^\[\]{}]*?"(?:\w*loss|reward|\w+_reward|'
                       r'rewards/\w+)"\s*:\s*-?(?:\d|NaN|Infinity|"nan")')


def sniff(head: str) -> float:
    """A JSON document (not JSON lines) holding a list of objects that log a loss or a reward."""
    text = head.lstrip()
    if text[:1] not in ("{", "[") or '"log_history"' in head:
        return 0.0
    first_line = text.split("\n", 1)[0].rstrip()
    if first_line.startswith("{") and first_line.endswith("}") and text.count("\n") > 1:
        return 0.0  # one object per line: JSON lines, other sources' format
    return 0.8 if _ROW_LIST.search(text) or _LOSS_COLUMN.match(text) or _SERIES.search(text) or _known_column(text) \
        else 0.0


# one metric's history as step/value points under a loss or reward name (`"ALIGNED/loss": [{"step": 1, "value": ..`)
_SERIES = re.compile(r'"[^"\n]{0,64}(?:loss|reward)[^"\n]{0,64}"\s*:\s*\[\s*\{\s*"(?:step|global_step|value)"\s*:')


# a column of numbers under a name the ontology knows (`{"rewards_avg": [0.19, ...], "kl_avg": [...]}`)
_COLUMN = re.compile(r'"([^"\n]{1,64})"\s*:\s*\[\s*-?(?:\d|NaN)')


def _known_column(text: str) -> bool:
    from ..ontology import canonical, is_known

    if not text.startswith("{"):
        return False
    return any(is_known(canonical(m.group(1), False)) or _STEP_COLUMN.match(m.group(1)) or _singular(m.group(1))
               for m in _COLUMN.finditer(text, 0, 4096))


SOURCE = Source(
    name="json_metrics",
    title="A custom loop's JSON dump of its logged rows (`history`, `metrics`, a bare list) with its settings",
    read=read,
    priority=45,
    sniff=sniff,
    runs=runs,
    # a history whose name says it holds losses (`loss_history.json`: `{"train": [...], "val": [...]}` or rows of
    # bare numbers): tried whatever its first bytes are
    names=("*loss*.json", "*ppl*.json", "*perplexity*.json"),
    suffixes=(".json",),
    examples=("metrics.json / dpo_metrics.json / training_metrics.json written by a notebook or a course lab",),
)
