#!/usr/bin/env python3
"""The JSON report of every development input, one file each, to compare two trees before a speed change lands.

A change meant only for speed must leave every report as it was. This writes `analyze INPUT --format json`
(in-process, `--fail-on never`) for every `sample_logs` run, every file or folder under
`tests/fixtures/real`, `tests/fixtures/formats/*` and `tests/fixtures/pastes`, and every entry of the shared
corpus (`../shared/corpus/{runs,stdout,trainer_state}`, where present), into OUT/, with the exit status and
stderr, volatile fields (times) and the tree's own path masked. Run it once per tree and diff the folders:

    python benchmarks/report_snapshot.py /tmp/after
    git worktree add /tmp/base main   # or `git archive main | tar -x -C /tmp/base`
    (cd /tmp && PYTHONPATH=/tmp/base python /path/to/benchmarks/report_snapshot.py /tmp/before --repo /tmp/base)
    diff -r /tmp/before /tmp/after && echo same

The inputs are always those of this script's own tree (`--inputs`), so both runs read the same files;
`--repo` is only the tree whose path is masked in the output. The package that runs is whatever
`import kto_doctor` finds (PYTHONPATH first).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
VOLATILE = {"generated_at", "duration", "elapsed", "timestamp", "seconds", "duration_s", "elapsed_s"}


def inputs(repo: Path, corpus: Path) -> list[Path]:
    out = [p for p in sorted((repo / "sample_logs").iterdir()) if p.is_dir() and not p.name.startswith("_")]
    fixtures = repo / "tests" / "fixtures"
    out += [p for p in sorted((fixtures / "real").iterdir()) if p.name != "PROVENANCE.md"]
    for d in ("formats", "pastes"):
        for sub in sorted((fixtures / d).iterdir()) if (fixtures / d).is_dir() else ():
            out += sorted(sub.iterdir()) if sub.is_dir() else [sub]
    for sub in ("runs", "stdout", "trainer_state"):
        if (corpus / sub).is_dir():
            out += sorted((corpus / sub).iterdir())
    return out


def scrub(o, masks):
    if isinstance(o, dict):
        return {k: ("<v>" if k in VOLATILE else scrub(v, masks)) for k, v in o.items()}
    if isinstance(o, list):
        return [scrub(v, masks) for v in o]
    if isinstance(o, str):
        for m, to in masks:
            o = o.replace(m, to)
    return o


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--inputs", type=Path, default=HERE, help="the tree whose inputs are read (this one)")
    ap.add_argument("--repo", type=Path, default=None, help="the tree under test, masked in the output")
    ap.add_argument("--corpus", type=Path, default=HERE.parent / "shared" / "corpus")
    args = ap.parse_args()
    import kto_doctor
    from typer.testing import CliRunner
    from kto_doctor.cli import app

    tree = args.repo or Path(kto_doctor.__file__).resolve().parents[1]
    masks = [(str(args.inputs), "<INPUTS>"), (str(tree), "<TREE>")]
    if not args.corpus.is_dir():
        masks.append((str(args.corpus), "<CORPUS>"))
    args.out.mkdir(parents=True, exist_ok=True)
    runner = CliRunner()
    files = inputs(args.inputs, args.corpus)
    for p in files:
        r = runner.invoke(app, ["analyze", str(p), "--format", "json", "--fail-on", "never"])
        try:
            body = json.dumps(scrub(json.loads(r.stdout), masks), indent=1, sort_keys=True)
        except ValueError:
            body = "not JSON:\n" + scrub(r.stdout, masks)
        name = re.sub(r"[^A-Za-z0-9_.-]", "_", str(p.relative_to(p.parents[1])))
        err = scrub(getattr(r, "stderr", "") or "", masks)
        (args.out / (name + ".json")).write_text(f"exit {r.exit_code}\n{body}\nstderr {err}\n", encoding="utf-8")
    try:
        from kto_doctor.engine import compiled
        form = "compiled" if compiled.load() is not None else "compiled from YAML (no current compiled form)"
    except ImportError:
        form = "compiled from YAML"
    print(f"{len(files)} reports in {args.out} (kto_doctor from {tree}; built-in rules {form})")


if __name__ == "__main__":
    sys.exit(main())
