"""Run fuzz cases and check each against the contract.

Cases run in worker processes (one case at a time each), in-process through the CLI's `main`, so that a
few hundred inputs fit in well under a minute: the import of pandas and the rules is paid once per
worker. Each case runs under a SIGALRM hang guard (the exception interrupts even a blocking open() of a
FIFO); a worker that does not answer within the guard plus a margin is killed and the case counted as a
hang. Peak memory is the worker's VmHWM for that case (reset through /proc/self/clear_refs before it);
RSS_CEILING_MB is the stated ceiling. Cases that need signals or real worker processes (scan) run the
CLI as a subprocess.

Checks per case: no hang, no traceback or internal error, peak RSS under the ceiling, the exit code the
contract gives, the reference parser's record count, no secret in any output, and (hostile cases) no
injection in any output format.
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import pickle
import queue
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
REPO = TESTS.parent
SAMPLES = REPO / "sample_logs"
RSS_CEILING_MB = 1024  # the stated bound on one analysis' peak resident memory, whatever the input
MARGIN = 15.0  # seconds past a case's own guard before its worker is killed


class Hang(BaseException):
    """Raised by the SIGALRM guard; a BaseException so that the CLI's catch-all does not swallow it."""


# ------------------------------------------------------------------------------------ building a case

def materialise(case, root: Path) -> None:
    for rel, data in case.files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    for spec in case.specials:
        p = root / spec[1]
        p.parent.mkdir(parents=True, exist_ok=True)
        if spec[0] == "fifo":
            os.mkfifo(p)
        elif spec[0] == "symlink":
            os.symlink(spec[2], p)
        elif spec[0] == "socket":
            sock = socket.socket(socket.AF_UNIX)
            sock.bind(str(p))
            sock.close()
        elif spec[0] == "chmod":
            os.chmod(p, spec[2])
    (root / case.run).parent.mkdir(parents=True, exist_ok=True)


def argv_of(case, root: Path) -> list[str]:
    return [a.replace("{run}", str(root / case.run)).replace("{case}", str(root)) for a in case.argv]


# ------------------------------------------------------------------------------------ checks

_SGR = re.compile(r"\x1b\[[0-9;]*m")
_RAW_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
_LINE_CMD = re.compile(r"^[ \t]*::", re.MULTILINE)
_GITHUB_LINE = re.compile(r"^::(error|warning|notice)(?: [^:\r\n]*)?::[^\r]*$|^kto-doctor: [^\r]*$|^$")
_URI = re.compile(r"^(?:file:///)?(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$")
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "poster"}
HOSTILE_TAGS = {"script", "iframe", "img", "object", "embed", "kto-x", "link", "meta-refresh", "base", "form"}


def terminal_problems(text: str, color: bool) -> list[str]:
    out = []
    plain = _SGR.sub("", text) if color else text
    m = _RAW_CONTROL.search(plain)
    if m:
        out.append(f"raw control character {ord(m.group()):#x} at {m.start()}")
    if _LINE_CMD.search(plain):
        out.append("a line starts with '::' (a workflow command)")
    return out


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.bad: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in HOSTILE_TAGS:
            self.bad.append(f"<{tag}>")
        for k, v in attrs:  # an event handler, or a script URL where a browser follows one
            if k.startswith("on") or (k in URL_ATTRS and v and v.strip().lower().startswith("javascript:")):
                self.bad.append(f"{tag} {k}=")


def output_problems(name: str, text: str, color: bool = False) -> list[str]:
    """Injection checks for one output, by its format."""
    out = []
    if name in ("stdout", "stderr", "plot"):
        out += terminal_problems(text, color)
    elif name == "out.github":
        for line in text.split("\n"):
            if not _GITHUB_LINE.match(line) or _RAW_CONTROL.search(line):
                out.append(f"not a clean workflow command line: {line[:80]!r}")
                break
    elif name == "out.md":
        if _RAW_CONTROL.search(text.replace("\t", " ")):
            out.append("raw control character in markdown")
        if _LINE_CMD.search(text):
            out.append("a markdown line starts with '::'")
        prose = re.sub(r"(`+).*?\1", "", text)  # a code span shows its text as it is: no tag there
        tags = set(re.findall(r"<(/?[A-Za-z][\w-]*)", prose)) - {"br", "details", "/details", "summary", "/summary"}
        if tags:
            out.append(f"raw HTML tags in markdown: {sorted(tags)[:3]}")
        header = None
        for line in text.split("\n"):
            if line.startswith("|"):
                cells = len(re.findall(r"(?<!\\)\|", line))
                if header is None:
                    header = cells
                elif cells != header:
                    out.append(f"a table row has {cells} cell separators, its header {header}: {line[:80]!r}")
                    break
            else:
                header = None
    elif name == "out.html":
        p = _Tags()
        p.feed(text)
        out += [f"HTML {b}" for b in p.bad[:3]]
    elif name in ("out.json", "out.sarif"):
        if re.search("[\x7f-\x9f\u2028\u2029]", text):
            out.append("raw C1/line-separator character in JSON")
        try:
            doc = json.loads(text)
        except ValueError:
            out.append("not JSON")
            return out
        if name == "out.sarif":
            for run in doc.get("runs", []):
                for r in run.get("results", []):
                    for loc in r.get("locations", []):
                        uri = loc["physicalLocation"]["artifactLocation"]["uri"]
                        first = uri.split("/", 1)[0]
                        if not _URI.match(uri) or (":" in first and not uri.startswith("file:///")):
                            out.append(f"SARIF uri is not a percent-encoded reference: {uri[:80]!r}")
    elif name == "out.xml":
        if re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", text):
            out.append("raw control character in XML")
        try:
            ET.fromstring(text.encode())
        except ET.ParseError as e:
            out.append(f"not XML: {e}")
    return out


def record_counts(outputs: dict) -> dict:
    """{source path: records} from the JSON report (analyze) or the first run of a scan."""
    try:
        doc = json.loads(outputs.get("out.json") or "null")
    except ValueError:
        return {}
    if isinstance(doc, list):
        doc = doc[0] if doc else None
    if not isinstance(doc, dict):
        return {}
    run = doc.get("run") or {}
    return {Path(s["path"]).name: s.get("records") for s in run.get("sources", [])}


def check(case, result: dict, outputs: dict) -> list[tuple[str, str]]:
    """[(problem kind, detail)] for one finished case."""
    problems = []
    err = outputs.get("stderr", "")
    if "internal error" in err or "Traceback (most recent call last)" in err:
        problems.append(("internal", err.strip().splitlines()[-1][:200] if err.strip() else "?"))
    if result["rss_mb"] > RSS_CEILING_MB:
        problems.append(("rss", f"{result['rss_mb']:.0f} MB > {RSS_CEILING_MB} MB"))
    if result["exit"] not in case.expect_exit:
        problems.append(("exit", f"exit {result['exit']}, expected {case.expect_exit}: {err.strip()[:200]}"))
    if result["exit"] in (0, 1) and (case.rows or case.max_rows):
        counts = record_counts(outputs)
        for path, op, want in case.rows:
            got = counts.get(path)
            if got is None or (got < want if op == "ge" else got != want):
                problems.append(("lost" if got is None or got < want else "extra",
                                 f"{path}: {got} records, the reference parser {'keeps at least' if op == 'ge' else 'keeps'} {want}"))
        for path, top in case.max_rows:
            got = counts.get(path)
            if got is not None and got > top:
                problems.append(("extra", f"{path}: {got} records from {top} dicts"))
    blob = "\n".join(outputs.values())
    for word in case.must_mention:
        if word not in blob:
            problems.append(("silent", f"{word} is named in no output"))
    if case.must_output and not (outputs.get("stdout", "").strip() or outputs.get("out.json", "").strip()):
        problems.append(("silent", "no output"))
    for secret in case.secrets:
        if secret in blob:
            problems.append(("leak", f"{secret} appears in the output"))
    if case.hostile or case.secrets:
        for name, text in outputs.items():
            for p in output_problems(name, text, case.color and name in ("stdout", "plot")):
                problems.append(("injection", f"{name}: {p}"))
    elif "stderr" in outputs:
        for p in terminal_problems(outputs["stderr"], False):
            problems.append(("injection", f"stderr: {p}"))
    if os.path.exists("/tmp/kto-fuzz-pwned"):
        problems.append(("injection", "an expression in a log was executed"))
    return problems


# ------------------------------------------------------------------------------------ running one case

def _peak_reset() -> None:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def _peak_mb() -> float:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def run_inprocess(case, root: Path) -> tuple[dict, dict]:
    from kto_doctor.cli import main

    outputs: dict[str, str] = {}
    code = None
    cwd = os.getcwd()
    os.chdir(root)
    old_argv = sys.argv

    def call(argv, out_name):
        nonlocal code
        out, err = io.StringIO(), io.StringIO()
        sys.argv = ["kto-doctor", *argv]
        rc = 0
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                main()
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else (0 if e.code is None else 2)
        outputs[out_name] = out.getvalue()
        outputs["stderr"] = outputs.get("stderr", "") + err.getvalue()
        return rc

    _peak_reset()
    start = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(case.timeout))
    hung = False
    try:
        argv = argv_of(case, root)
        if case.color:
            argv = argv + ["--color", "always"]
        code = call(argv, "stdout")
        if case.plot:
            call(["plot", str(root / case.run)], "plot")
    except Hang:
        hung = True
    finally:
        signal.alarm(0)
        sys.argv = old_argv
        os.chdir(cwd)
    for name in ("out.json", "out.sarif", "out.xml", "out.github", "out.md", "out.html"):
        p = root / name
        if p.is_file():
            outputs[name] = p.read_text(encoding="utf-8", errors="replace")
    return {"exit": code, "hang": hung, "rss_mb": _peak_mb(), "seconds": time.monotonic() - start}, outputs


def _alarm(signum, frame):
    raise Hang()


def run_subprocess(case, root: Path) -> tuple[dict, dict]:
    cmd = [sys.executable, "-c", "from kto_doctor.cli import main; main()", *argv_of(case, root)]
    start = time.monotonic()
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONPATH=str(REPO))
    if os.geteuid() == 0 and any(s[0] == "chmod" for s in case.specials):
        # root reads mode-000 folders; in a user namespace where only root is mapped, it cannot read one
        # owned by an unmapped user
        for spec in case.specials:
            if spec[0] == "chmod":
                os.chown(root / spec[1], 65534, 65534)
        cmd = ["unshare", "--user", "--map-root-user", *cmd]
    with open(root / "stdout", "wb") as out, open(root / "stderr", "wb") as err:
        # Ctrl-C as at a terminal: a shell's background job (`pytest ... &`, nohup) starts with SIGINT ignored,
        # which Python respects and every child inherits; the CLI would then rightly ignore the signal
        restore = (lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)) if case.action == "sigint" else None
        proc = subprocess.Popen(cmd, cwd=root, stdout=out, stderr=err, env=env, start_new_session=True,
                                preexec_fn=restore)
        if case.action:
            _await_workers(proc, 10.0)  # mid-sweep on any machine: after the workers start, not at a fixed time
            time.sleep(0.3)
            if case.action == "sigint":
                os.killpg(proc.pid, signal.SIGINT)
            else:
                kids = _children(proc.pid)
                if kids:
                    os.kill(kids[0], signal.SIGKILL)
        hung = False
        try:
            _, status, usage = _wait4(proc, case.timeout)
            code = os.waitstatus_to_exitcode(status)
        except TimeoutError:
            hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            code = None
    outputs = {"stdout": (root / "stdout").read_text(errors="replace"),
               "stderr": (root / "stderr").read_text(errors="replace")}
    p = root / "out.json"
    if p.is_file():
        outputs["out.json"] = p.read_text(errors="replace")
    return {"exit": code, "hang": hung, "rss_mb": usage.ru_maxrss / 1024,
            "seconds": time.monotonic() - start}, outputs


def _wait4(proc, timeout):
    end = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if time.monotonic() > end:
            raise TimeoutError
        time.sleep(0.05)


def _await_workers(proc, limit: float) -> None:
    """Wait until the process has started a child (a scan's worker pool), at most `limit` seconds."""
    end = time.monotonic() + limit
    while time.monotonic() < end and proc.poll() is None and not _children(proc.pid):
        time.sleep(0.02)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def reader_file(case) -> str | None:
    """The one log file a damage case is about, when it can be checked by its reader alone."""
    if case.subprocess or case.hostile or case.secrets or case.specials or len(case.files) != 1:
        return None
    (rel,) = case.files
    return rel if case.argv and case.argv[0] == "analyze" and rel.startswith(case.run + "/") else None


def run_reader(case, root: Path) -> tuple[dict, list]:
    """The long run's fast path: the file through its reader (what analyze reads first), not the CLI."""
    from kto_doctor import sources
    from kto_doctor.sources import SourceError

    rel = reader_file(case)
    problems = []
    _peak_reset()
    start = time.monotonic()
    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(int(case.timeout))
    hung, records = False, 0
    try:
        records = sources.read(root / rel).records
    except SourceError:
        records = 0
    except Hang:
        hung = True
    except Exception as exc:
        problems.append(("internal", f"{type(exc).__name__}: {exc}"[:200]))
    finally:
        signal.alarm(0)
    result = {"exit": None, "hang": hung, "rss_mb": _peak_mb(), "seconds": time.monotonic() - start}
    if hung:
        return result, [("hang", f"no answer within {case.timeout:.0f} s")]
    if result["rss_mb"] > RSS_CEILING_MB:
        problems.append(("rss", f"{result['rss_mb']:.0f} MB > {RSS_CEILING_MB} MB"))
    if records == 0 and 2 not in case.expect_exit:
        problems.append(("exit", "nothing read (exit 2) where the reference parser keeps records"))
    if records and case.expect_exit == (2,):
        problems.append(("exit", f"{records} records read where the reference parser keeps none"))
    for path, op, want in case.rows:
        if records < want or (op == "eq" and records != want):
            problems.append(("lost" if records < want else "extra", f"{path}: {records} records, the reference "
                             f"parser {'keeps at least' if op == 'ge' else 'keeps'} {want}"))
    for path, top in case.max_rows:
        if records > top:
            problems.append(("extra", f"{path}: {records} records from {top} dicts"))
    return result, problems


def run_case(case, full: bool = True) -> dict:
    root = Path(tempfile.mkdtemp(prefix="kto-fuzz-"))
    try:
        materialise(case, root)
        if not full and reader_file(case):
            result, problems = run_reader(case, root)
            result["mode"] = "reader"
            return dict(result, family=case.family, name=case.name, owner=case.owner, problems=problems)
        result, outputs = (run_subprocess if case.subprocess else run_inprocess)(case, root)
        result["mode"] = "cli"
        problems = [("hang", f"no answer within {case.timeout:.0f} s")] if result["hang"] else check(case, result, outputs)
    finally:
        for p in root.rglob("*"):  # mode-000 folders must be opened again to be removed
            if p.is_dir() and not p.is_symlink():
                os.chmod(p, 0o755)
        shutil.rmtree(root, ignore_errors=True)
    return dict(result, family=case.family, name=case.name, owner=case.owner, problems=problems)


# ------------------------------------------------------------------------------------ workers

def worker_main() -> None:
    """Read (family, seed, index) jobs as pickles from stdin; answer one JSON line per job on the pipe
    $KTO_FUZZ_FD (stdout and stderr belong to the CLI under test)."""
    from .families import Samples, generate

    proto = os.fdopen(int(os.environ["KTO_FUZZ_FD"]), "w", buffering=1)
    samples = Samples(SAMPLES)
    _share_builtin_rules()
    stdin = sys.stdin.buffer
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return
        (n,) = struct.unpack("<I", head)
        family, seed, index, full = pickle.loads(stdin.read(n))
        try:
            case = generate(family, seed, index, samples)
            result = run_case(case, full)
        except Exception as exc:  # a bug of the fuzzer itself: reported, never hidden
            result = {"family": family, "name": family, "owner": "?", "exit": None, "rss_mb": 0, "seconds": 0,
                      "problems": [("fuzzer", f"{type(exc).__name__}: {exc}")]}
        result["index"] = index
        proto.write(json.dumps(result) + "\n")


def _share_builtin_rules() -> None:
    """The built-in rules are compiled once per worker, not once per case (two thirds of a case's time):
    a case without rule files or overrides of its own gets the same RuleSet, which evaluation only reads."""
    from kto_doctor import analysis

    load, shared = analysis.load_rules, []

    def load_rules(extra_paths=(), overrides=()):
        if extra_paths or overrides:
            return load(extra_paths, overrides)
        if not shared:
            shared.append(load())
        return shared[0]

    analysis.load_rules = load_rules


class Worker:
    def __init__(self):
        r, w = os.pipe()
        code = ("import sys; sys.path.insert(0, %r); from fuzz.harness import worker_main; worker_main()" % str(TESTS))
        env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", PYTHONPATH=str(REPO), KTO_FUZZ_FD=str(w))
        env.pop("KTO_DOCTOR_DEBUG", None)
        self.proc = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, pass_fds=(w,), env=env, start_new_session=True)
        os.close(w)
        self.results = os.fdopen(r, "r")

    def ask(self, job, timeout: float) -> dict | None:
        data = pickle.dumps(job)
        self.proc.stdin.write(struct.pack("<I", len(data)) + data)
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.results], [], [], timeout)
        if not ready:
            return None
        line = self.results.readline()
        return json.loads(line) if line else None

    def kill(self):
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self.results.close()


RECYCLE = 500  # cases per worker process before a fresh one (what a long run leaves in memory is not a case's)


def run_jobs(jobs, workers: int = 2, on_result=None, stop=None) -> list[dict]:
    """Run [(family, seed, index, timeout[, full])] on `workers` worker processes (full: through the CLI,
    else a damage case through its reader only); results in completion order. `stop()` true: no new job."""
    todo: queue.Queue = queue.Queue()
    for j in jobs:
        todo.put(j)
    results: list[dict] = []
    lock = threading.Lock()

    def loop():
        w, served = Worker(), 0
        while True:
            if stop is not None and stop():
                break
            try:
                job = todo.get_nowait()
            except queue.Empty:
                break
            if served >= RECYCLE:
                w.kill()
                w, served = Worker(), 0
            served += 1
            family, seed, index, timeout = job[:4]
            full = job[4] if len(job) > 4 else True
            res = w.ask((family, seed, index, full), timeout + MARGIN)
            if res is None:  # hung past the in-process guard, or died
                dead = w.proc.poll() is not None
                w.kill()
                w = Worker()
                res = {"family": family, "name": family, "index": index, "exit": None, "rss_mb": 0,
                       "seconds": timeout + MARGIN, "owner": "?",
                       "problems": [("crash" if dead else "hang", "the worker died" if dead else "killed after the guard")]}
            with lock:
                results.append(res)
                if on_result:
                    on_result(res)
        w.kill()

    threads = [threading.Thread(target=loop) for _ in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
