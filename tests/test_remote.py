"""Runs where they live, offline: fsspec's memory:// and file:// filesystems and an HTTP server on loopback."""
from __future__ import annotations

import functools
import http.server
import json
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app

from ci_runs import rows
from conftest import SAMPLES

fsspec = pytest.importorskip("fsspec")  # the test extra installs it; a bare install still runs the rest
runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def _state(n, nan_at=()):
    r = rows(n, nan_at=nan_at)
    return json.dumps({"global_step": n, "max_steps": n, "log_history": r}).encode()


@pytest.fixture
def bucket():
    """A model repo as the Hub holds one: checkpoints with weights beside the logs."""
    fs = fsspec.filesystem("memory")
    root = "/bucket-%d" % id(fs)
    files = {
        f"{root}/exp/run-a/trainer_state.json": _state(40, nan_at=(30, 31)),
        f"{root}/exp/run-a/checkpoint-20/trainer_state.json": _state(20),
        f"{root}/exp/run-a/checkpoint-20/model.safetensors": b"\0" * 4096,
        f"{root}/exp/run-a/checkpoint-20/optimizer.pt": b"\0" * 4096,
        f"{root}/exp/run-a/checkpoint-40/trainer_state.json": _state(40, nan_at=(30, 31)),
        f"{root}/exp/run-a/checkpoint-40/model.safetensors": b"\0" * 4096,
        f"{root}/exp/run-a/checkpoint-40/training_args.bin": b"\0" * 64,
        f"{root}/exp/run-a/tokenizer.json": b"{}",
        f"{root}/exp/run-a/README.md": b"# model card",
        f"{root}/exp/run-b/trainer_state.json": _state(30),
        f"{root}/exp/run-b/pytorch_model.bin": b"\0" * 4096,
    }
    for path, data in files.items():
        fs.pipe(path, data)
    yield f"memory://{root}", fs
    fs.rm(root, recursive=True)


@pytest.fixture
def opened(monkeypatch, bucket):
    """Every path the memory filesystem is asked to open."""
    _, fs = bucket
    seen = []
    real = type(fs)._open

    def spy(self, path, *a, **k):
        seen.append(path)
        return real(self, path, *a, **k)

    monkeypatch.setattr(type(fs), "_open", spy)
    return seen


def test_analyze_a_remote_run_reads_only_the_claimed_logs(bucket, opened):
    url, _ = bucket
    r = run("analyze", f"{url}/exp/run-a", "-f", "json")
    assert r.exit_code == 1, r.output  # the NaN at step 30 is an error finding
    rep = json.loads(r.stdout)
    assert rep["run"]["path"] == f"{url}/exp/run-a"
    assert rep["run"]["steps"]["last"] == 40
    assert {s["path"] for s in rep["run"]["sources"]} == {"trainer_state.json", "checkpoint-40/trainer_state.json"}
    names = [Path(p).name for p in opened]
    assert names and set(names) == {"trainer_state.json"}
    assert not any("checkpoint-20" in p for p in opened)  # older checkpoints: not even their logs


def test_a_remote_single_file_and_its_url_in_the_text_report(bucket):
    url, _ = bucket
    r = run("analyze", f"{url}/exp/run-b/trainer_state.json")
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"kto-doctor  {url}/exp/run-b/trainer_state.json")


def test_scan_a_remote_prefix(bucket, opened):
    url, _ = bucket
    r = run("scan", url, "-j", "2", "-f", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert [d["run"]["path"] for d in doc] == [f"{url}/exp/run-a", f"{url}/exp/run-b"]
    assert [d["status"] for d in doc] == ["failing", "healthy"]
    assert f"{url}/exp/run-a" in r.stderr  # the table (on stderr beside JSON) names the URLs
    assert not any(p.endswith((".safetensors", ".bin", ".pt")) for p in opened)


def test_remote_errors_name_the_url(bucket):
    url, fs = bucket
    r = run("analyze", f"{url}/exp/missing")
    assert r.exit_code == 2 and f"{url}/exp/missing: no such file or folder" in r.stderr
    fs.pipe(url.removeprefix("memory://") + "/empty/notes.md", b"hi")
    r = run("analyze", f"{url}/empty")
    assert r.exit_code == 2 and r.stderr.startswith(f"kto-doctor: error: {url}/empty: no training logs found")
    assert "kto-doctor-remote-" not in r.stderr  # the temporary folder never shows


def test_file_urls_work_like_local_paths():
    local = json.loads(run("analyze", SAMPLES / "kto-flagship", "-f", "json").stdout)
    url = (SAMPLES / "kto-flagship").as_uri()
    remote = json.loads(run("analyze", url, "-f", "json").stdout)
    assert remote["run"]["path"] == url
    assert [f["rule"] for f in remote["findings"]] == [f["rule"] for f in local["findings"]]


@pytest.fixture
def http_root(tmp_path):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))

    class Quiet(handler.func):
        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_https_style_url_to_a_trainer_state(http_root):
    pytest.importorskip("aiohttp")
    root, base = http_root
    (root / "run").mkdir()
    (root / "run" / "trainer_state.json").write_bytes(_state(40, nan_at=(20, 21)))
    r = run("analyze", f"{base}/run/trainer_state.json", "-f", "json")
    assert r.exit_code == 1, r.output
    rep = json.loads(r.stdout)
    assert rep["run"]["path"] == f"{base}/run/trainer_state.json" and rep["run"]["steps"]["logged"] == 40
    missing = run("analyze", f"{base}/run/nothing.json")
    assert missing.exit_code == 2 and f"{base}/run/nothing.json" in missing.stderr


def test_without_fsspec_a_url_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "fsspec", None)
    r = run("analyze", "hf://datasets/someone/runs/trainer_state.json")
    assert r.exit_code == 2
    assert r.stderr.strip() == ("kto-doctor: error: hf://datasets/someone/runs/trainer_state.json: reading hf:// "
                                "runs needs the remote extra: pip install 'kto-doctor[remote]'")
    r = run("scan", "s3://bucket/runs/")
    assert r.exit_code == 2 and "pip install 'kto-doctor[remote]'" in r.stderr


def test_a_protocol_whose_package_is_missing_names_it():
    try:
        import s3fs  # noqa: F401
        pytest.skip("s3fs is installed")
    except ImportError:
        pass
    r = run("analyze", "s3://bucket/run/")
    assert r.exit_code == 2
    assert "reading s3:// needs s3fs, which the remote extra installs: pip install 'kto-doctor[remote]'" in r.stderr


def test_python_api_reads_urls(bucket):
    import kto_doctor

    url, _ = bucket
    run_ = kto_doctor.load_run(f"{url}/exp/run-b")
    assert run_.path == f"{url}/exp/run-b" and run_.steps["logged"] == 30
    assert kto_doctor.analyze(f"{url}/exp/run-a").status == "failing"


def test_a_claimed_file_too_large_for_a_log_is_skipped_and_said(bucket, monkeypatch):
    import kto_doctor
    from kto_doctor import remote

    url, fs = bucket
    fs.pipe(url.removeprefix("memory://") + "/exp/run-b/train.log", b"x" * 5000)
    monkeypatch.setattr(remote, "MAX_FILE_BYTES", 4096)
    run_ = kto_doctor.load_run(f"{url}/exp/run-b")
    assert any(w.startswith("not fetched: train.log:") for w in run_.warnings)
    assert {s.path for s in run_.sources} == {"trainer_state.json"}


def test_plan_keeps_the_newest_checkpoint_and_never_weights():
    from kto_doctor.remote import plan

    entries = {f"/r/{p}": {"type": "file", "size": 10} for p in (
        "checkpoint-9/trainer_state.json", "checkpoint-10/trainer_state.json", "checkpoint-10/model.safetensors",
        "checkpoint-10/rng_state.pth", "a/checkpoint-3/trainer_state.json", "trainer_log.jsonl",
        ".git/trainer_state.json", "__pycache__/run/output.log", "README.md", "LICENSE", "adapter_model.bin", "events.out.tfevents.1.host")}
    todo, skipped = plan(None, "/r", entries)
    assert sorted(rel for _, rel in todo) == ["a/checkpoint-3/trainer_state.json", "checkpoint-10/trainer_state.json",
                                              "events.out.tfevents.1.host", "trainer_log.jsonl"]
    assert skipped == []


def test_scan_over_an_http_folder_listing(http_root):
    pytest.importorskip("aiohttp")
    root, base = http_root
    write = __import__("ci_runs").write_state
    write(root / "runs" / "a", rows(30))
    write(root / "runs" / "b", rows(30, nan_at=(5, 6)))
    r = run("scan", f"{base}/runs/", "-j", "1", "-f", "json")
    assert r.exit_code == 1, r.output
    doc = json.loads(r.stdout)
    assert [(d["run"]["path"], d["status"]) for d in doc] == [(f"{base}/runs/a", "healthy"),
                                                              (f"{base}/runs/b", "failing")]
