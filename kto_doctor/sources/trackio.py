"""Trackio (Hugging Face's local-first tracker): one SQLite database per project, `<project>.db` under
`$TRACKIO_DIR` (default `~/.cache/huggingface/trackio/`), several runs in each.

`runs(path)` lists the project's runs (by `run_id` since trackio 0.24, by `run_name` before: the legacy
schema has no run ids), each a run of its own (`analyze --run KEY`, `scan`). Read-only and immutable, with
the standard library's sqlite3 (`store_util.connect`). Tables (trackio `sqlite_storage.py`):
- `metrics(id, [run_id], timestamp, run_name, step, metrics)`: one row per `trackio.log()`, `metrics` a
  JSON object (stored as orjson bytes) of the names logged in that call. orjson cannot write NaN or
  infinities, so trackio stores them as the strings "NaN", "Infinity", "-Infinity"; they are read back as
  the values they were. Rows are ordered by step, then by id (all rows of a run can share one timestamp).
- `configs(run_id|run_name, config)`: the run's configuration (JSON); trackio's own `_Username`,
  `_Created`, `_Group` are left out.
Names go through the ontology (TRL's `train/loss`, `eval/loss`, `train/rewards/chosen`...).
"""
from __future__ import annotations

from pathlib import Path

from .base import Columns, SourceData, SourceError
from .registry import Source
from .store_util import Memo, columns, framework_hint, json_many, json_or_none, tables, with_database

_MEMO = Memo()


def _key_column(con) -> str:
    return "run_id" if "run_id" in columns(con, "metrics") else "run_name"


def runs(path: Path) -> list[str]:
    def keys(con) -> list[str]:
        key = _key_column(con)
        return [r[0] for r in con.execute(f"SELECT {key} FROM metrics GROUP BY {key} ORDER BY min(id)")]

    return with_database(path, _check, keys)


def read(path: Path) -> list[SourceData]:
    return _MEMO.get(Path(path), _read)


def _check(con, path) -> None:
    have = tables(con)
    if not {"metrics", "configs"} <= have or "run_name" not in columns(con, "metrics"):
        raise SourceError(f"{path}: an SQLite database, but not a Trackio project (no metrics/configs tables)")


def _read(path: Path) -> list[SourceData]:
    def load(con) -> list[SourceData]:
        key = _key_column(con)
        out: dict[str, SourceData] = {}
        rows = con.execute(f"SELECT {key}, run_name, step, metrics FROM metrics ORDER BY {key}, step, id").fetchall()
        for run, name, *_ in rows:
            if run not in out:
                out[run] = SourceData(path=path, format="trackio", run_key=run,
                                      facts={"run_name": name, "trackio_project": path.stem})
        _metrics(rows, out)
        del rows
        for run, config in con.execute(f"SELECT {key}, config FROM configs"):
            if run in out:
                _config(out[run], config)
                framework_hint(out[run])
        if not out:
            raise SourceError(f"{path}: Trackio project without logged metrics")
        return list(out.values())

    return with_database(path, _check, load)


def _metrics(rows: list, out: dict[str, SourceData]) -> None:
    parsed = json_many([r[3] if isinstance(r[3], bytes) else str(r[3]).encode() for r in rows])
    bad: dict[str, int] = {}
    a = 0
    while a < len(rows):
        run = rows[a][0]
        b = a
        while b < len(rows) and rows[b][0] == run:
            b += 1
        d = out[run]
        cols = Columns()
        shapes: dict[tuple, tuple[list, list, list]] = {}
        for i in range(a, b):
            row = parsed[i]
            step = rows[i][2]
            if not isinstance(row, dict) or not isinstance(step, int):
                bad[run] = bad.get(run, 0) + 1
                continue
            group = shapes.setdefault(tuple(row), ([], [], []))
            group[0].append(row)
            group[1].append(step)
            group[2].append(i - a + 1)
        for keys, (rs, steps, order) in shapes.items():
            cols.add_rows(rs, keys, steps, order, False)
        d.series = cols.build(d)
        for s in d.series.values():
            s.lines = None  # row numbers of a query are no place in a file
        d.records = b - a - bad.get(run, 0)
        if bad.get(run):
            d.warnings.append(f"run {d.facts.get('run_name', run)}: {bad[run]} metrics row(s) that are not a JSON "
                              "object skipped")
        a = b


def _config(d: SourceData, raw) -> None:
    cfg = json_or_none(raw if isinstance(raw, bytes) else str(raw).encode())
    if isinstance(cfg, dict):
        d.config.update({k: v for k, v in cfg.items() if isinstance(k, str) and not k.startswith("_")})


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    """Any SQLite database may be a project (see mlflow_sqlite.sniff); Trackio's table names make it likely."""
    if not head.startswith("SQLite format 3"):
        return 0.0
    return 0.9 if "system_metrics" in head and "run_name" in head and "latest_metrics" not in head else 0.5


SOURCE = Source(
    name="trackio",
    title="Trackio project databases (<project>.db under ~/.cache/huggingface/trackio: every run of a project)",
    read=read,
    priority=13,
    sniff=sniff,
    suffixes=(".db",),
    runs=runs,
    examples=("~/.cache/huggingface/trackio/<project>.db",),
)
