"""MLflow's SQLite store (`mlflow.db`, the default tracking URI since MLflow 3.7; verl's `/tmp/mlruns.db`).

One database holds every run of every experiment: `runs(path)` lists the runs (not deleted ones), each
becomes a run of its own (`analyze --run <run id>`, `scan`). Read with the standard library's sqlite3,
opened read-only and immutable (`store_util.connect`), so a live MLflow server or training job is never
disturbed. Tables (mlflow `store/tracking/dbmodels/models.py`; columns are checked, old schemas lack
`metrics.step`, `metrics.is_nan`):
- `metrics(key, value, timestamp, run_uuid, step, is_nan)`: every logged value is a row. SQL cannot hold
  NaN or infinities, so MLflow stores NaN as `value=0, is_nan=1` and ±inf as ±1.7976931348623157e308
  (`sanitize_metric_value`); both are mapped back. A step logged twice keeps both rows: ordered by
  timestamp, the later wins, and a key whose steps go back (a resume) drops the abandoned values from there.
- `runs(run_uuid, name, status, lifecycle_stage, experiment_id, ...)`: `status` is text here
  (FINISHED, FAILED, KILLED, RUNNING, SCHEDULED), unlike the file store's ints.
- `params(key, value, run_uuid)` → configuration; `tags(key, value, run_uuid)` (`mlflow.runName`).
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from .base import MetricNames, SourceData, SourceError, adopt_summary_loss
from .mlflow_files import metric_series, run_facts
from .registry import Source
from .store_util import Memo, columns, framework_hint, tables, with_database

DBL_MAX = sys.float_info.max
_MEMO = Memo()


def runs(path: Path) -> list[str]:
    """The run ids of the store, oldest first (deleted runs left out)."""
    return with_database(path, _check, _run_ids)


def _run_ids(con) -> list[str]:
    have = columns(con, "runs")
    live = "WHERE lifecycle_stage IS NULL OR lifecycle_stage != 'deleted'" if "lifecycle_stage" in have else ""
    order = "ORDER BY start_time, run_uuid" if "start_time" in have else "ORDER BY run_uuid"
    return [r[0] for r in con.execute(f"SELECT run_uuid FROM runs {live} {order}")]


def read(path: Path) -> list[SourceData]:
    return _MEMO.get(Path(path), _read)


def _check(con, path) -> None:
    if not {"runs", "metrics"} <= tables(con):
        raise SourceError(f"{path}: an SQLite database, but not an MLflow store (no runs/metrics tables)")


def _read(path: Path) -> list[SourceData]:
    def load(con) -> list[SourceData]:
        keys = _run_ids(con)
        if not keys:
            raise SourceError(f"{path}: MLflow store without runs")
        out = {k: SourceData(path=path, format="mlflow_sqlite", run_key=k) for k in keys}
        _meta(con, out)
        _params(con, out)
        _metrics(con, out)
        for key, d in out.items():
            framework_hint(d)
            if not d.series and not d.config:  # listed by `runs`, so said here, not "no training logs found"
                state = d.facts.get("run_state")
                d.warnings.append(f"{path.name}#{key}: this MLflow run logged no metric and no parameter"
                                  + (f" (status: {state})" if state else ""))
        return list(out.values())

    return with_database(path, _check, load)


def _meta(con, out: dict[str, SourceData]) -> None:
    have = columns(con, "runs")
    cols = [c for c in ("run_uuid", "name", "status", "lifecycle_stage", "experiment_id") if c in have]
    tags: dict[str, dict] = {}
    if "tags" in tables(con):
        for run, key, value in con.execute("SELECT run_uuid, key, value FROM tags"):
            tags.setdefault(run, {})[key] = value
    exp_names = {}
    if "experiments" in tables(con):
        exp_names = dict(con.execute("SELECT experiment_id, name FROM experiments"))
    for row in con.execute(f"SELECT {', '.join(cols)} FROM runs"):
        meta = dict(zip(cols, row))
        d = out.get(meta["run_uuid"])
        if d is None:
            continue
        d.facts.update(run_facts(meta, tags.get(meta["run_uuid"], {})))
        if exp_names.get(meta.get("experiment_id")):
            d.facts["experiment"] = exp_names[meta["experiment_id"]]


def _params(con, out: dict[str, SourceData]) -> None:
    if "params" not in tables(con):
        return
    for run, key, value in con.execute("SELECT run_uuid, key, value FROM params"):
        if run in out:
            out[run].config[key] = value


def _metrics(con, out: dict[str, SourceData]) -> None:
    have = columns(con, "metrics")
    step = "step" if "step" in have else "0"
    is_nan = "is_nan" if "is_nan" in have else "0"
    # One (run, key) after the other, each in logging order; the group sizes come from the same ordering,
    # so only numbers cross into Python per row.
    groups = con.execute("SELECT run_uuid, key, count(*) FROM metrics GROUP BY run_uuid, key "
                         "ORDER BY run_uuid, key").fetchall()
    if not groups:
        return
    table = np.array(con.execute(f"SELECT value, {step}, {is_nan} FROM metrics "
                                 "ORDER BY run_uuid, key, timestamp, rowid").fetchall(), dtype=np.float64)
    values, steps = table[:, 0], table[:, 1]
    values[table[:, 2] != 0] = np.nan
    values[values >= DBL_MAX] = np.inf
    values[values <= -DBL_MAX] = -np.inf
    ends = np.cumsum([n for _, _, n in groups]).tolist()
    names = MetricNames()
    restarts: dict[str, list[str]] = {}
    summaries: dict = {}
    for (run, key, _), a, b in zip(groups, [0] + ends[:-1], ends):
        d = out.get(run)
        name = names[key, False] if d is not None else None
        if name is None and d is not None and names.summary_loss(key):
            name = "train_loss"  # decided below, once the run's own `loss` is known
        if name is None:
            continue
        s, v = steps[a:b], values[a:b]
        order = np.arange(1, b - a + 1, dtype=np.int64)  # the row's place in time: the later row wins
        series, went_back = metric_series(s, v, order)
        if name == "train_loss":
            if series is not None:
                summaries[run] = (key, series, b - a)
            continue
        if went_back:
            restarts.setdefault(run, []).append(key)
        if series is not None:
            series.lines = None  # row numbers in time order are no place in a file
            d.series[name] = series
            d.records += b - a
    for run, (key, series, n) in summaries.items():
        series.lines = None
        adopt_summary_loss(out[run], key, series)
        out[run].records += n if out[run].series.get("loss") is series else 0
    for run, keys in restarts.items():
        out[run].warnings.append(f"run {run}: the steps of {', '.join(keys[:5])} go back (a resumed run logging "
                                 "again); the later values win from the step where they restart")


# ------------------------------------------------------------------------------------------ the plugin


def sniff(head: str) -> float:
    """Any SQLite database may be a store (its schema can lie past the first 64 KB): discovery asks `runs`,
    which checks the tables; MLflow's own table names in the head make it likely."""
    if not head.startswith("SQLite format 3"):
        return 0.0
    return 0.9 if "latest_metrics" in head and "run_uuid" in head else 0.5


SOURCE = Source(
    name="mlflow_sqlite",
    title="MLflow SQLite store (mlflow.db: every run of every experiment; read-only, standard library sqlite3)",
    read=read,
    priority=13,
    names=("mlflow.db", "mlruns.db"),
    sniff=sniff,
    suffixes=(".db", ".sqlite", ".sqlite3"),
    runs=runs,
    examples=("./mlflow.db (MLflow >= 3.7 default)", "/tmp/mlruns.db (verl's MLflow default)"),
)
