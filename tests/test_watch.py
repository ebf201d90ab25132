"""`kto-doctor watch`: a LLaMA-Factory-shaped run that is still writing, followed poll by poll.

The run is replayed from a real sample: trainer_log.jsonl and console.log grow line by line,
trainer_state.json is rewritten at each "checkpoint" (every 20 steps), as LLaMA-Factory does.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import pytest

from kto_doctor.analysis import analyze, load_rules
from kto_doctor.live.follow import Follower
from kto_doctor.live.monitor import Monitor

from conftest import SAMPLES


class Replay:
    """Writes a sample run into `dst` step by step."""

    def __init__(self, sample, dst, checkpoint_every=20):
        self.src, self.dst = SAMPLES / sample, dst
        dst.mkdir(parents=True, exist_ok=True)
        shutil.copy(self.src / "train.yaml", dst / "train.yaml")
        self.log_lines = (self.src / "trainer_log.jsonl").read_bytes().splitlines(keepends=True)
        self.state = json.loads((self.src / "trainer_state.json").read_text())
        self.console = (self.src / "console.log").read_bytes().splitlines(keepends=True)
        self.every = checkpoint_every
        self.steps = len(self.log_lines)

    def write_step(self, k: int) -> None:
        """Append step k (1-based) to the appended logs; at a checkpoint rewrite trainer_state.json."""
        with open(self.dst / "trainer_log.jsonl", "ab") as f:
            f.write(self.log_lines[k - 1])
        n = len(self.console) * k // self.steps
        prev = len(self.console) * (k - 1) // self.steps
        with open(self.dst / "console.log", "ab") as f:
            f.write(b"".join(self.console[prev:n]))
        if k % self.every == 0 or k == self.steps:
            hist = [h for h in self.state["log_history"] if h.get("step", 0) <= k]
            state = {**self.state, "global_step": k, "log_history": hist}
            tmp = self.dst / "trainer_state.json.tmp"
            tmp.write_text(json.dumps(state))
            os.replace(tmp, self.dst / "trainer_state.json")


def keys(report):
    return [(f.rule, tuple(f.steps), f.severity, f.title) for f in report.findings]


def test_each_finding_is_reported_at_the_poll_after_its_row_and_the_end_equals_analyze(tmp_path):
    rp = Replay("lf-sft-lr-too-high", tmp_path / "run")
    rules = load_rules()
    follower, monitor = Follower(rp.dst), Monitor(str(rp.dst), rules)
    seen_at = {}  # rule -> step after which the watch first reported it
    for k in range(1, rp.steps + 1):
        rp.write_step(k)
        assert follower.poll()
        monitor.sources = follower.sources()
        for f in monitor.poll().new:
            seen_at.setdefault(f.rule, k)
    follower.poll(final=True)
    monitor.sources = follower.sources()
    final = monitor.poll(final=True)
    # the end of the watch equals a full analysis of the finished files
    assert keys(final.report) == keys(analyze(rp.dst))
    # within one poll: a full analysis of the files as they stood after row k-1 did not have the rule's
    # first finding, the poll right after row k reported it
    prefix = tmp_path / "prefix"
    replay = Replay("lf-sft-lr-too-high", prefix)
    first = {}
    for k in range(1, max(seen_at.values()) + 1):
        replay.write_step(k)
        for f in analyze(prefix).findings:
            first.setdefault(f.rule, k)
    assert seen_at, "the watch reported nothing"
    for rule, k in seen_at.items():
        assert first.get(rule) == k, (rule, k, first.get(rule))
    assert "SCHED104" in seen_at and seen_at["SCHED104"] == 1


def test_a_long_run_between_full_evaluations_still_ends_equal_to_analyze(tmp_path):
    # full_rows/head/tail shrunk so that this 60-step run goes through the window evaluations
    rp = Replay("lf-kto-lr-too-high", tmp_path / "run")
    follower = Follower(rp.dst)
    monitor = Monitor(str(rp.dst), load_rules(), full_rows=10, growth=0.5, head=5, tail=8)
    kinds = []
    for k in range(1, rp.steps + 1):
        rp.write_step(k)
        follower.poll()
        monitor.sources = follower.sources()
        kinds.append(monitor.poll().full)
    assert not all(kinds) and any(kinds)
    follower.poll(final=True)
    monitor.sources = follower.sources()
    final = monitor.poll(final=True)
    assert final.full and keys(final.report) == keys(analyze(rp.dst))


def test_a_half_written_line_waits_for_the_next_poll(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    log = run / "trainer_log.jsonl"
    log.write_text('{"current_steps": 1, "total_steps": 10, "loss": 2.0}\n{"current_steps": 2, "to')
    f = Follower(run)
    f.poll()
    (src,) = f.sources()
    assert len(src) == 1
    with open(log, "a") as fh:
        fh.write('tal_steps": 10, "loss": 1.9}\n')
    f.poll()
    assert len(src) == 2 and list(src.data().series["loss"].values) == [2.0, 1.9]


def _watch(*args, cwd=None):
    return subprocess.Popen([sys.executable, "-m", "kto_doctor", "watch", *map(str, args)], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_watch_command_follows_a_growing_run_and_runs_the_notification_command(tmp_path):
    rp = Replay("lf-kto-lr-too-high", tmp_path / "run")
    marker = tmp_path / "notified.jsonl"
    # the notification command: a Python one-liner that appends its stdin and one env var to a file
    hook = tmp_path / "hook.py"
    hook.write_text("import os, sys\nwith open(sys.argv[1], 'a') as f:\n"
                    "    f.write(os.environ['KTO_DOCTOR_RULE'] + ' ' + sys.stdin.read().replace(chr(10), ' ') + chr(10))\n")
    rp.write_step(1)
    proc = _watch(rp.dst, "--interval", "0.2", "--until-idle", "4", "--format", "jsonl",
                  "--on-finding", f"{sys.executable} {hook} {marker}")

    def writer():
        for k in range(2, rp.steps + 1):
            rp.write_step(k)
            time.sleep(0.02)

    t = threading.Thread(target=writer)
    t.start()
    out, err = proc.communicate(timeout=300)
    t.join()
    assert proc.returncode == 1, err  # SCHED104 is an error: --fail-on error (the default) fires
    events = [json.loads(line) for line in out.splitlines()]
    findings = [e for e in events if e["event"] == "finding"]
    assert findings[0]["rule"] == "SCHED104" and events[-1]["event"] == "end"
    assert len({(e["rule"], e["title"]) for e in findings}) == len(findings)  # each once
    notified = marker.read_text().splitlines()
    assert len(notified) == len(findings)
    rule, doc = notified[0].split(" ", 1)
    assert rule == "SCHED104" and json.loads(doc)["rule"] == "SCHED104"


def test_exit_on_error_ends_the_watch_and_log_text_never_reaches_a_shell(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    # a metric name crafted as a shell command: it must stay data
    evil = "$(touch PWNED)`touch PWNED2`;touch PWNED3"
    rows = [{"current_steps": i, "total_steps": 100, "loss": float("nan") if i > 3 else 2.0, evil: 1.0}
            for i in range(1, 8)]
    (run / "trainer_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows).replace("NaN", "NaN"))
    proc = _watch(run, "--interval", "0.2", "--exit-on", "error", "--on-finding", "cat", cwd=tmp_path)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1
    assert "NUM101" in out
    assert not list(tmp_path.glob("PWNED*"))


@pytest.mark.parametrize("args,message", [
    (["--format", "xml"], "--format"),
    (["--exit-on", "fatal"], "--exit-on"),
    (["--interval", "0"], "--interval"),
    (["--on-finding", "'unclosed"], "--on-finding"),
])
def test_watch_usage_errors_are_exit_2(tmp_path, args, message):
    from typer.testing import CliRunner

    from kto_doctor.cli import app

    r = CliRunner().invoke(app, ["watch", str(SAMPLES / "lf-kto-healthy"), *args])
    assert r.exit_code == 2 and message in r.output


def test_a_big_existing_log_is_read_in_one_pass_then_followed_line_by_line(tmp_path):
    from kto_doctor import sources
    from kto_doctor.live import follow

    run = tmp_path / "run"
    run.mkdir()
    log = run / "trainer_log.jsonl"
    rows = [json.dumps({"current_steps": i, "total_steps": 16000, "loss": 1 / i, "lr": 1e-4}) + "\n"
            for i in range(1, 16001)]
    text = "".join(rows[:15000])
    assert len(text) > follow.BULK_BYTES
    log.write_text(text + rows[15000][:20])  # and a half-written line
    f = Follower(run)
    f.poll()
    (src,) = f.sources()
    assert len(src) == 15000
    with open(log, "a") as fh:
        fh.write(rows[15000][20:] + "".join(rows[15001:]))
    f.poll()
    got = src.data()
    want = sources.read(log, "trainer_log")
    assert len(src) == 16000 and set(got.series) == set(want.series)
    for name in want.series:
        assert list(got.series[name].steps) == list(want.series[name].steps)
        assert list(got.series[name].values) == list(want.series[name].values)
        assert list(got.series[name].lines) == list(want.series[name].lines)
    # the window slice keeps the first and last rows only
    part = src.data(head=10, tail=20).series["loss"]
    assert list(part.steps) == list(range(1, 11)) + list(range(15981, 16001))
