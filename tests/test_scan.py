"""`kto-doctor scan`: run discovery, parallel analysis, one table, one gate, errors as rows."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.cli.scan import find_runs

from ci_runs import rows, write_state
from conftest import CORPUS, SAMPLES, needs_corpus

runner = CliRunner()


def cli(*args):
    return runner.invoke(app, [str(a) for a in args])


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "sweep"
    # an LLaMA-Factory style output folder: checkpoints and TensorBoard runs/ belong to it
    lf = write_state(root / "exp" / "lf-run", rows(40))
    write_state(lf / "checkpoint-20", rows(20))
    (lf / "runs" / "Nov28").mkdir(parents=True)
    (lf / "runs" / "Nov28" / "events.out.tfevents.1.vm").write_bytes(b"")
    (lf / "train.yaml").write_text("stage: sft\nlearning_rate: 1.0e-5\n")
    # a folder holding only checkpoints
    write_state(root / "exp" / "ckpt-only" / "checkpoint-10", rows(10))
    # loose console logs: each file is a run
    (root / "stdout").mkdir()
    for i in range(2):
        (root / "stdout" / f"job{i}.log").write_text(
            "".join(f"{{'loss': {2 - s / 50:.3f}, 'grad_norm': 1.0, 'learning_rate': 1e-05, 'epoch': {s / 20:.2f}}}\n"
                    for s in range(1, 20)))
    # one console log with its config: the folder is the run
    (root / "single").mkdir()
    (root / "single" / "train.log").write_text((root / "stdout" / "job0.log").read_text())
    (root / "single" / "args.yaml").write_text("learning_rate: 1.0e-5\n")
    # notes that are no log
    (root / "README.md").write_text("# runs\n")
    return root


def test_find_runs(tmp_path):
    root = _tree(tmp_path)
    found = [Path(p).relative_to(root).as_posix() for p in find_runs(root)]
    assert found == ["exp/ckpt-only", "exp/lf-run", "single", "stdout/job0.log", "stdout/job1.log"]
    assert find_runs(root / "exp" / "lf-run") == [str(root / "exp" / "lf-run")]
    assert find_runs(root / "stdout" / "job0.log") == [str(root / "stdout" / "job0.log")]


def test_scan_sample_logs_table_and_exit():
    r = cli("scan", SAMPLES, "-j", "2")
    assert r.exit_code == 1, r.output  # lf-kto-lr-zero and lf-dpo-no-learning fail at the default --fail-on error
    assert "Traceback" not in r.output
    for col in ("run", "method", "status", "top cause", "findings"):
        assert col in r.stdout
    for p in find_runs(SAMPLES):
        assert f" {p} " in r.stdout  # every run has its row, its path unbroken
    assert f"{len(find_runs(SAMPLES))} run(s)" in r.stdout


def test_scan_json_lists_one_report_per_run_and_matches_analyze():
    runs = find_runs(SAMPLES)
    r = cli("scan", SAMPLES, "-f", "json", "-j", "2")
    assert r.exit_code == 1
    doc = json.loads(r.stdout)
    assert isinstance(doc, list) and [d["run"]["path"] for d in doc] == runs
    assert all(d["schema_version"] == 1 and d["status"] in ("failing", "warning", "healthy") for d in doc)
    assert "top cause" in r.stderr  # the table moves to stderr when stdout carries JSON
    one = json.loads(cli("analyze", runs[0], "-f", "json").stdout)
    assert [f["rule"] for f in doc[0]["findings"]] == [f["rule"] for f in one["findings"]]


def test_parallel_and_serial_agree():
    a = json.loads(cli("scan", SAMPLES, "-f", "json", "-j", "1").stdout)
    b = json.loads(cli("scan", SAMPLES, "-f", "json", "-j", "3").stdout)
    assert [(d["run"]["path"], [f["rule"] for f in d["findings"]]) for d in a] == \
           [(d["run"]["path"], [f["rule"] for f in d["findings"]]) for d in b]


def test_exit_code_follows_the_worst_run(tmp_path):
    root = tmp_path / "s"
    write_state(root / "healthy", rows(40))
    assert cli("scan", root, "-j", "1").exit_code == 0
    write_state(root / "broken", rows(40, nan_at=(20, 21)))
    assert cli("scan", root, "-j", "1").exit_code == 1
    assert cli("scan", root, "-j", "1", "--fail-on", "never").exit_code == 0
    assert cli("scan", root, "-j", "1", "--exit-zero").exit_code == 0


def test_an_unreadable_run_is_a_row_not_the_end(tmp_path):
    root = tmp_path / "s"
    write_state(root / "good", rows(40, nan_at=(20, 21)))
    (root / "bad").mkdir()
    (root / "bad" / "trainer_state.json").write_text("{ this is not json")
    r = cli("scan", root, "-f", "json", "-j", "2")
    assert r.exit_code == 1 and "Traceback" not in r.output
    doc = json.loads(r.stdout)
    status = {Path(d["run"]["path"]).name: d["status"] for d in doc}
    assert status == {"bad": "error", "good": "failing"}
    bad = next(d for d in doc if d["status"] == "error")
    assert bad["error"] and bad["findings"] == []
    assert "bad: could not analyse" in r.stderr
    assert cli("scan", root, "-j", "1", "--strict-errors").exit_code == 2


def test_nothing_analysable_is_exit_2(tmp_path):
    (tmp_path / "empty").mkdir()
    r = cli("scan", tmp_path / "empty")
    assert r.exit_code == 2 and "no training run found" in r.stderr
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "trainer_state.json").write_text("[]")
    r = cli("scan", tmp_path / "bad")
    assert r.exit_code == 2 and "no run could be analysed" in r.stderr
    assert cli("scan", tmp_path / "missing").exit_code == 2


def test_scan_other_formats_and_baseline(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    root = tmp_path / "s"
    write_state(root / "a", rows(40, nan_at=(20, 21)))
    write_state(root / "b", rows(40, nan_at=(10, 11)))
    r = cli("scan", root, "-j", "2", "-f", "sarif", "-o", "out.sarif", "-f", "junit", "-o", "out.xml",
            "-f", "markdown", "-o", "out.md", "-f", "github", "-o", "out.gh", "--write-baseline", "base.json")
    assert r.exit_code == 0, r.output
    sarif = json.loads((tmp_path / "out.sarif").read_text())
    assert len(sarif["runs"]) == 1
    assert {Path(res["properties"]["run"]).name for res in sarif["runs"][0]["results"]} == {"a", "b"}
    assert len(ET.fromstring((tmp_path / "out.xml").read_text()).findall("testsuite")) == 2
    assert "| run | method | status | top cause | findings |" in (tmp_path / "out.md").read_text()
    assert "top cause" in r.stdout  # every format went to a file: the table is on stdout
    assert cli("scan", root, "--baseline", "base.json").exit_code == 0
    write_state(root / "c", rows(40, nan_at=(30, 31)))
    assert cli("scan", root, "--baseline", "base.json").exit_code == 1


@needs_corpus
def test_scan_corpus():
    runs = find_runs(CORPUS)
    assert len(runs) >= 20
    assert not any("/checkpoint-" in p for p in runs)
    r = cli("scan", CORPUS, "-f", "json")
    assert r.exit_code == 1, r.stderr  # the corpus holds NaN runs
    assert "Traceback" not in r.output
    doc = json.loads(r.stdout)
    assert [d["run"]["path"] for d in doc] == runs
    assert "top cause" in r.stderr
    assert sum(d["status"] != "error" for d in doc) >= len(doc) - 2


def test_files_as_pre_commit_passes_them_map_to_their_runs(tmp_path):
    root = _tree(tmp_path)
    lf = root / "exp" / "lf-run"
    files = [lf / "trainer_state.json", lf / "checkpoint-20" / "trainer_state.json",
             lf / "runs" / "Nov28" / "events.out.tfevents.1.vm", root / "stdout" / "job1.log"]
    from kto_doctor.cli.scan import find_runs_in

    assert find_runs_in(files) == [str(lf), str(root / "stdout" / "job1.log")]
    r = cli("scan", "--jobs", "1", *files)
    assert r.exit_code == 0 and "2 run(s): 2 healthy" in r.stdout


def test_integration_files_are_valid():
    import yaml

    from conftest import REPO

    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    import re

    for h in hooks:
        assert {"id", "name", "entry", "language"} <= set(h) and h["entry"].startswith("kto-doctor ")
        pat = re.compile(h["files"])
        assert pat.search("runs/a/checkpoint-5/trainer_state.json") and pat.search("x/trainer_log.jsonl")
        assert pat.search("runs/a/runs/b/events.out.tfevents.17.host.1.0") and not pat.search("train.yaml")
    action = yaml.safe_load((REPO / "action.yml").read_text())
    assert action["runs"]["using"] == "composite" and {"path", "fail-on", "sarif-file"} <= set(action["inputs"])
    uses = [s.get("uses", "") for s in action["runs"]["steps"]]
    assert any(u.startswith("github/codeql-action/upload-sarif@") for u in uses)
    script = "\n".join(s.get("run", "") for s in action["runs"]["steps"])
    assert '"${GITHUB_ACTION_PATH}"' in script and "--format sarif" in script and "--fail-on" in script
