"""Finding fingerprints and baseline files: accept today's findings, fail only on new ones.

A fingerprint names a finding so that re-running the same training (same output folder, same config)
gives the same name, whatever the wording of the message or the exact numbers:

    run     the run's path, relative to the working directory when it lies under it (forward slashes)
    rule    the rule code (KTO102)
    metric  the finding's primary metric (its first `metrics` entry; "" for config-only findings)
    bucket  where the finding starts: the first firing step as a twentieth of the run length
            (`floor(20 * first_step / total)`, total = config `total_steps`, else the last logged step),
            so 0..20; -1 for run-level findings without steps

`fingerprint()` hashes the four into a stable hex string (SARIF `partialFingerprints`, baseline entries).
Matching a baseline is a little looser than the hash: same run, rule and metric, and a bucket at most one
away, so a spike that starts a few steps later after a re-run is still the known one. When the baseline
holds one run and one run is analysed, the run path is not compared (`analyze ./runs/x` vs `runs/x`,
or a different checkout location in CI).

Baseline file (`--write-baseline FILE`, read with `--baseline FILE`), JSON::

    {
      "schema_version": 1,
      "tool": {"name": "kto-doctor", "version": "0.1.0"},
      "fingerprint": "run+rule+metric+bucket/20 v1",
      "findings": [
        {"fingerprint": "3f2a9c0d41b7e6551cc54cf9859e9d3d", "run": "saves/qwen-kto", "rule": "SCHED101",
         "metric": "learning_rate", "bucket": 0, "severity": "warning", "title": "The warm-up ..."}
      ]
    }

Only `run`, `rule`, `metric` and `bucket` are used for matching; `severity` and `title` are there for
the humans who review the file in a diff. Entries are sorted, so rewriting an unchanged baseline gives
an identical file.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from pathlib import Path

SCHEMA_VERSION = 1
BUCKETS = 20
FINGERPRINT_KEY = "ktoDoctorFinding/v1"


class BaselineError(Exception):
    pass


def run_key(path) -> str:
    """The run's path as a stable, portable string: relative to the cwd when under it, forward slashes."""
    text = str(path)
    if text.startswith("<"):  # synthetic runs ("<test>")
        return text
    p = Path(text)
    try:
        absolute = p.resolve()
        rel = absolute.relative_to(Path.cwd().resolve())
        out = rel.as_posix()
    except (ValueError, OSError):
        out = Path(os.path.normpath(text)).as_posix()
    return out or "."


def run_length(run) -> int | None:
    total = run.config.get("total_steps") if isinstance(run.config, dict) else None
    if isinstance(total, (int, float)) and not isinstance(total, bool) and math.isfinite(total) and total > 0:
        return int(total)
    last = run.steps.get("last")
    return int(last) if last else None


def bucket(finding, run) -> int:
    """The first firing step as a twentieth of the run (0..20); -1 when the finding has no step."""
    if not finding.steps:
        return -1
    first = finding.steps[0]
    total = run_length(run)
    if not total or first is None:
        return -1
    return max(0, min(BUCKETS, int(math.floor(BUCKETS * float(first) / total))))


def primary_metric(finding) -> str:
    return finding.metrics[0] if finding.metrics else ""


def key(finding, run) -> dict:
    return {"run": run_key(run.path), "rule": finding.rule, "metric": primary_metric(finding),
            "bucket": bucket(finding, run)}


def fingerprint(finding, run) -> str:
    k = key(finding, run)
    raw = f"v1|{k['run']}|{k['rule']}|{k['metric']}|{k['bucket']}"
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:32]


def entries(reports) -> list[dict]:
    out = []
    for r in reports:
        for f in r.findings:
            e = key(f, r.run)
            e["fingerprint"] = fingerprint(f, r.run)
            e["severity"] = f.severity
            e["title"] = f.title
            out.append(e)
    out.sort(key=lambda e: (e["run"], e["rule"], e["metric"], e["bucket"]))
    return out


def dumps(reports) -> str:
    from . import __version__

    doc = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "kto-doctor", "version": __version__},
        "fingerprint": "run+rule+metric+bucket/20 v1",
        "findings": entries(reports),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def write(path, reports) -> None:
    p = Path(path)
    if p.parent and not p.parent.exists():
        p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(dumps(reports), encoding="utf-8")


def load(path) -> list[dict]:
    """The baseline's entries. Raises BaselineError (exit 2) when the file is missing or malformed."""
    p = Path(path)
    try:
        if p.exists() and not p.is_file():  # a FIFO would block, a device never end
            raise BaselineError(f"{path}: not a regular file")
        doc = json.loads(p.read_text(encoding="utf-8"))
    except RecursionError:
        raise BaselineError(f"{path}: not a kto-doctor baseline (nested too deep)") from None
    except FileNotFoundError:
        raise BaselineError(f"{path}: baseline file not found (create it with --write-baseline)") from None
    except (OSError, UnicodeDecodeError) as e:
        raise BaselineError(f"{path}: cannot read baseline: {e}") from None
    except json.JSONDecodeError as e:
        raise BaselineError(f"{path}:{e.lineno}:{e.colno}: not valid JSON: {e.msg}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("findings"), list):
        raise BaselineError(f"{path}: not a kto-doctor baseline (expected an object with a `findings` list)")
    version = doc.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int):
        raise BaselineError(f"{path}: schema_version must be a whole number (this kto-doctor writes {SCHEMA_VERSION})")
    if version > SCHEMA_VERSION:
        raise BaselineError(f"{path}: baseline schema_version {version} is newer than this kto-doctor")
    out = []
    for i, e in enumerate(doc["findings"]):
        if not isinstance(e, dict) or not isinstance(e.get("rule"), str):
            raise BaselineError(f"{path}: findings[{i}] needs at least a `rule`")
        b = e.get("bucket", -1)
        if isinstance(b, bool) or not isinstance(b, (int, float)) or not -1 <= b <= BUCKETS or b != int(b):
            raise BaselineError(f"{path}: findings[{i}].bucket must be a whole number from -1 to {BUCKETS}")
        out.append({"run": str(e.get("run", "")), "rule": e["rule"], "metric": str(e.get("metric", "")),
                    "bucket": int(b)})
    return out


def _matches(entry: dict, k: dict, compare_run: bool) -> bool:
    if entry["rule"] != k["rule"] or entry["metric"] != k["metric"]:
        return False
    if compare_run and entry["run"] != k["run"]:
        return False
    if entry["bucket"] < 0 or k["bucket"] < 0:
        return entry["bucket"] == k["bucket"]
    return abs(entry["bucket"] - k["bucket"]) <= 1


def apply(reports, baseline: list[dict]) -> int:
    """Mark every finding the baseline already knows (`finding.baseline = True`); returns how many."""
    runs = {e["run"] for e in baseline}
    compare_run = not (len(runs) == 1 and len(reports) == 1)
    n = 0
    for r in reports:
        for f in r.findings:
            k = key(f, r.run)
            if any(_matches(e, k, compare_run) for e in baseline):
                f.baseline = True
                n += 1
    return n
