"""The families of hostile inputs, generated from the shipped `sample_logs/`.

Each family is a function `(rng, samples) -> Case`: one input, the command to run on it and what the
contract says must happen. `owner` names whose code makes the family pass (`hostile`: readers, project
config, reports; `lead`: discovery and the shared opener; `ux`: scan), so that the test can mark the
families still waiting for someone's work as expected failures.
"""
from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import reference as ref

FORMATS = ("text", "json", "sarif", "junit", "github", "markdown", "html")
OUTPUTS = ("-", "out.json", "out.sarif", "out.xml", "out.github", "out.md", "out.html")
ALL_FORMATS = [a for f, o in zip(FORMATS, OUTPUTS) for a in ("--format", f, "-o", o)]

PAYLOADS = [
    "\n::add-mask::SECRETX\n", "\n::set-output name=leak::x", "\r\n::error::boom", "::add-mask::start",
    "\x1b[31mRED\x1b[0m", "\x1b]8;;https://evil.example/\x07link\x1b]8;;\x07", "\x1b]0;title\x07", "\x1b[2J",
    "[link=https://evil.example]click[/link]", "[bold red]x[/]", "a[/x]", "<script>alert(1)</script>",
    "<kto-x onload=alert(1)>", "`|` *_[x](javascript:alert(1))", "%0A::warning::pct", "\u2028::add-mask::ls",
    "\x9b31m", "\u202e\u2066", "\x00nul", "\x7f\x08\x07", "x\ty",
]


@dataclass
class Case:
    family: str
    name: str
    owner: str = "hostile"
    files: dict = field(default_factory=dict)  # path relative to the case folder -> bytes
    specials: list = field(default_factory=list)  # ("fifo", rel) | ("symlink", rel, target) | ("chmod", rel, mode)
    argv: list = field(default_factory=list)  # "{run}" and "{case}" are replaced
    run: str = "run"  # what is analysed, relative to the case folder
    expect_exit: tuple = (0, 1)
    rows: list = field(default_factory=list)  # (source path in the report, "eq" | "ge", reference rows)
    max_rows: list = field(default_factory=list)  # (source path, upper bound)
    secrets: tuple = ()  # strings that must not appear in any output
    hostile: bool = False  # check every output for injection
    plot: bool = False  # also run `plot RUN` (the list of logged metrics)
    subprocess: bool = False  # run as a real process (signals, workers)
    action: str | None = None  # for subprocess cases: "sigint" | "kill-worker"
    timeout: float = 60.0
    color: bool = False
    must_output: bool = False  # something on stdout or in out.json (an interrupted sweep shows what it has)
    must_mention: tuple = ()  # strings that must appear in some output (an unreadable folder is named)


class Samples:
    """The shipped samples, read once."""

    def __init__(self, root: Path):
        self.root = root
        self.runs = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("lf-"))
        self._cache: dict[Path, bytes] = {}

    def read(self, p: Path) -> bytes:
        if p not in self._cache:
            self._cache[p] = p.read_bytes()
        return self._cache[p]

    def pick(self, rng: random.Random, name: str) -> bytes:
        return self.read(rng.choice(self.runs) / name)

    def event_file(self, rng: random.Random) -> bytes:
        run = rng.choice(self.runs)
        return self.read(next((run / "runs").rglob("events.out.tfevents.*")))


def analyze(extra=(), every_format=False) -> list:
    """`analyze RUN`: the text report on stdout and the JSON report (record counts) in out.json; with
    `every_format`, every format to its own file (the cases whose names and content are hostile)."""
    formats = ALL_FORMATS if every_format else ["--format", "text", "-o", "-", "--format", "json", "-o", "out.json"]
    return ["analyze", "{run}", "--isolated", *formats, *extra]


# ------------------------------------------------------------------------------------ mutations

def flips(rng, data: bytes, n: int):
    b = bytearray(data)
    edits = []
    for off in sorted(rng.sample(range(len(b)), n)):
        b[off] ^= 1 << rng.randrange(8)
        edits.append((off, 1, 1))
    return bytes(b), edits


def truncate(rng, data: bytes):
    cut = rng.randrange(len(data) + 1)
    return data[:cut], [(cut, len(data) - cut, 0)] if cut < len(data) else []


def nul_run(rng, data: bytes):
    off = rng.randrange(len(data) + 1)
    n = rng.choice([1, 8, 512, 4096])
    if rng.random() < 0.5:  # inserted
        return data[:off] + b"\0" * n + data[off:], [(off, 0, n)]
    n = min(n, len(data) - off)  # written over (a crash leaves unwritten pages as NULs)
    return data[:off] + b"\0" * n + data[off + n:], ([(off, n, n)] if n else [])


def damaged_case(family, data, edits, run_file, rows, exists_if):
    return Case(family, f"{family}", files={f"run/{run_file}": data}, argv=analyze(),
                expect_exit=(0, 1) if exists_if else (2,), rows=rows)


# ------------------------------------------------------------------------------------ trainer_state

def _state_case(family, pristine, data, edits, skip=()):
    n = ref.state_rows(pristine, data, edits, skip)
    return Case(family, family, files={"run/trainer_state.json": data}, argv=analyze(),
                expect_exit=(0, 1) if n else (2,), rows=[("trainer_state.json", "eq", n)] if n else [])


def ts_truncate(rng, s):
    p = s.pick(rng, "trainer_state.json")
    return _state_case("ts_truncate", p, *truncate(rng, p))


def ts_bitflip(rng, s):
    p = s.pick(rng, "trainer_state.json")
    return _state_case("ts_bitflip", p, *flips(rng, p, rng.choice([1, 1, 2, 3])))


def ts_nul(rng, s):
    p = s.pick(rng, "trainer_state.json")
    return _state_case("ts_nul", p, *nul_run(rng, p))


def _deep(rng) -> bytes:
    depth = rng.choice([1500, 20_000, 100_000])
    if rng.random() < 0.5:
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a": ' * depth + b"1" + b"}" * depth


def ts_deep(rng, s):
    p = s.pick(rng, "trainer_state.json")
    spans = ref.record_spans(p)
    a, b = rng.choice(spans)
    at = p.index(b'      "', a)  # the record's first field
    value = _deep(rng)
    closed = rng.random() < 0.8
    if not closed:
        value = value[: len(value) // 2]
    insert = b'"deep": ' + value + b",\n"
    data = p[:at] + insert + p[at:]
    skip = [(at + 8, at + 8 + len(value))] if closed else []
    return _state_case("ts_deep", p, data, [(at, 0, len(insert))], skip)


_NUMBER = re.compile(rb'(?<=": )-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?=,?\n)')
HUGE = [str(2 ** 400).encode(), b"9" * 5000, str(-(2 ** 4000)).encode(), b"1e400", b"-1e400", b"1e-400",
        b"123456789012345678901234567890"]


def ts_bignum(rng, s):
    p = s.pick(rng, "trainer_state.json")
    nums = list(_NUMBER.finditer(p))
    data, edits = p, []
    for m in sorted(rng.sample(nums, rng.choice([1, 2, 5])), key=lambda m: m.start(), reverse=True):
        new = rng.choice(HUGE)
        data = data[:m.start()] + new + data[m.end():]
        edits.insert(0, (m.start(), m.end() - m.start(), len(new)))
    return _state_case("ts_bignum", p, data, edits)


def ts_empty(rng, s):
    text = rng.choice([b'{"log_history": []}', b'{"global_step": 3, "log_history": [], "max_steps": 60}',
                       b'{"log_history": [{"train_runtime": 1.5, "train_loss": 0.5, "step": 3}]}', b"{}",
                       b"[]", b"null", b"   \n", b'{"log_history": [{"loss": 1}]}', b'{"log_history": "x"}'])
    return Case("ts_empty", "ts_empty", files={"run/trainer_state.json": text}, argv=analyze(), expect_exit=(2,))


# ------------------------------------------------------------------------------------ trainer_log

def _log_case(family, data):
    n = ref.trainer_log_rows(data)
    return Case(family, family, files={"run/trainer_log.jsonl": data}, argv=analyze(),
                expect_exit=(0, 1) if n else (2,), rows=[("trainer_log.jsonl", "eq", n)] if n else [])


def tl_truncate(rng, s):
    return _log_case("tl_truncate", truncate(rng, s.pick(rng, "trainer_log.jsonl"))[0])


def tl_bitflip(rng, s):
    p = s.pick(rng, "trainer_log.jsonl")
    return _log_case("tl_bitflip", flips(rng, p, rng.choice([1, 2, 3, 8]))[0])


def tl_nul(rng, s):
    return _log_case("tl_nul", nul_run(rng, s.pick(rng, "trainer_log.jsonl"))[0])


def tl_crafted(rng, s):
    lines = s.pick(rng, "trainer_log.jsonl").split(b"\n")
    for _ in range(rng.choice([1, 3])):
        i = rng.randrange(len(lines) - 1)
        kind = rng.randrange(4)
        if kind == 0:
            lines[i] = lines[i].replace(b'"loss": ', b'"loss": ' + rng.choice(HUGE) + b', "x": ', 1)
        elif kind == 1:
            lines[i] = lines[i][:-1] + b', "deep": ' + _deep(rng) + b"}"
        elif kind == 2:
            lines[i] = re.sub(rb'"current_steps": \d+', b'"current_steps": ' + rng.choice(HUGE), lines[i])
        else:
            lines[i] = b"\0" * rng.choice([1, 100]) + lines[i] + b"\0" * rng.choice([0, 7])
    return _log_case("tl_crafted", b"\n".join(lines))


# ------------------------------------------------------------------------------------ console

def _console_case(family, data, hostile=False):
    n = ref.console_rows(data)
    top = ref.console_dicts(data)
    return Case(family, family, files={"run/console.log": data}, argv=analyze(every_format=hostile),
                expect_exit=(0, 1) if n else (0, 1, 2), rows=[("console.log", "ge", n)] if n else [],
                max_rows=[("console.log", top)], hostile=hostile, plot=hostile)


def con_truncate(rng, s):
    return _console_case("con_truncate", truncate(rng, s.pick(rng, "console.log"))[0])


def con_bitflip(rng, s):
    p = s.pick(rng, "console.log")
    return _console_case("con_bitflip", flips(rng, p, rng.choice([1, 3, 10]))[0])


def con_nul(rng, s):
    return _console_case("con_nul", nul_run(rng, s.pick(rng, "console.log"))[0])


EXPRESSIONS = [b"__import__('os').system('touch /tmp/kto-fuzz-pwned')", b"2**10", b"1+1", b"(lambda: 1)()",
               b"open('/etc/passwd').read()", b"[1, 2]", b"{'a': 1}", b"0x10", b"1_0e5j", b"float('nan')"]


def con_crafted(rng, s):
    """Expression dicts (never rows), escape sequences in values and lines (never in the report)."""
    lines = s.pick(rng, "console.log").split(b"\n")
    for _ in range(rng.choice([1, 3, 6])):
        i = rng.randrange(len(lines))
        kind = rng.randrange(3)
        if kind == 0:
            lines.insert(i, b"{'loss': " + rng.choice(EXPRESSIONS) + b", 'learning_rate': 1e-05, 'epoch': 0.5}")
        elif kind == 1:
            esc = rng.choice(PAYLOADS).encode("utf-8", "replace").replace(b"\n", b" ").replace(b"'", b"")
            lines[i] = lines[i].replace(b"'loss': '", b"'loss': '" + esc, 1)
        else:
            lines.insert(i, rng.choice(PAYLOADS).encode("utf-8", "replace"))
    return _console_case("con_crafted", b"\n".join(lines), hostile=True)


# ------------------------------------------------------------------------------------ TensorBoard

def _event_case(family, pristine, data, edits):
    n = ref.event_records(pristine, edits)
    scalars = ref.event_scalar_records(pristine, edits)
    return Case(family, family, files={"run/events.out.tfevents.1.fuzz": data}, argv=analyze(),
                expect_exit=(0, 1) if scalars else (0, 1, 2),
                rows=[("events.out.tfevents.1.fuzz", "eq", n)] if scalars else [])


def tb_truncate(rng, s):
    p = s.event_file(rng)
    return _event_case("tb_truncate", p, *truncate(rng, p))


def tb_bitflip(rng, s):
    p = s.event_file(rng)
    return _event_case("tb_bitflip", p, *flips(rng, p, rng.choice([1, 2])))


# ------------------------------------------------------------------------------------ names

def _safe_name(text: str) -> str:
    return text.replace("/", "∕").replace("\0", "0")[:120] or "x"


def names(rng, s):
    """Hostile text in the run folder's name, a file name, a metric name and a config value."""
    payload = rng.choice(PAYLOADS)
    state = json.loads(s.pick(rng, "trainer_state.json"))
    key = f"m{payload}"
    for row in state["log_history"]:
        if "loss" in row:
            row[key] = 1.0
    folder = "run" + _safe_name(rng.choice(PAYLOADS))
    files = {f"{folder}/trainer_state.json": json.dumps(state, indent=2).encode(),
             f"{folder}/train.yaml": ("stage: kto\nmodel_name_or_path: " + json.dumps(payload)
                                      + "\nfinetuning_type: full\n").encode(),
             f"{folder}/x{_safe_name(rng.choice(PAYLOADS))}.log": b"just text, no metrics\n"}
    return Case("names", "names", files=files, run=folder, argv=analyze(every_format=True), hostile=True, plot=True,
                color=rng.random() < 0.5, expect_exit=(0, 1))


def secrets(rng, s):
    """Files that do not parse as what their name says hold a secret: it never reaches any output."""
    marker = f"SECRET{rng.randrange(10 ** 9):09d}"
    line = f"{marker}=hunter2 {{'loss': 1}} [x".encode()
    where = rng.choice(["trainer_state.json", "trainer_log.jsonl", "train.yaml", "all_results.json",
                        "config.json", "events.out.tfevents.1.x", "rules"])
    files = {"run/console.log": s.pick(rng, "console.log")}
    argv = analyze(every_format=True)
    expect = (0, 1)
    if where == "rules":
        files["secret.env"] = line + b"\n"
        files[".kto-doctor.yaml"] = b"extend-rules: [secret.env]\n"
        argv = [a for a in argv if a != "--isolated"]
        expect = (2,)
    else:
        files[f"run/{where}"] = line + b"\n" + line
    return Case("secrets", f"secrets:{where}", files=files, argv=argv, secrets=(marker, "hunter2"), expect_exit=expect)


ABSURD = ["1e308", "-1e308", str(2 ** 400), "9" * 5000, ".nan", "-.inf", "1e-400", "-1", "0"]
NUMERIC_KEYS = ["warmup_ratio", "learning_rate", "max_steps", "warmup_steps", "logging_steps", "pref_beta",
                "per_device_train_batch_size", "gradient_accumulation_steps", "num_train_epochs", "cutoff_len",
                "vocab_size", "kto_chosen_weight", "lora_rank", "max_grad_norm", "save_steps"]


def config_numbers(rng, s):
    run = rng.choice(s.runs)
    yaml_text = s.read(run / "train.yaml").decode()
    for key in rng.sample(NUMERIC_KEYS, rng.choice([1, 3, 6])):
        yaml_text += f"\n{key}: {rng.choice(ABSURD)}"
    return Case("config_numbers", "config_numbers", argv=analyze(),
                files={"run/trainer_state.json": s.read(run / "trainer_state.json"),
                       "run/train.yaml": yaml_text.encode()})


def set_numbers(rng, s):
    key = rng.choice(NUMERIC_KEYS + ["desirable_fraction", "total_steps"])
    return Case("set_numbers", f"set_numbers:{key}", argv=analyze(["--set", f"{key}={rng.choice(ABSURD)}"]),
                files={"run/trainer_state.json": s.pick(rng, "trainer_state.json")}, expect_exit=(0, 1, 2))


def trust(rng, s):
    """A run with an error finding holds a config that would switch the gate off: the gate holds."""
    text = rng.choice([b"fail-on: never\n", b"exceptions:\n  - {rules: [SCHED104], reason: x}\n",
                       b"ignore: [SCHED104]\n", b"rules:\n  SCHED104: {enabled: false}\n",
                       b"rules:\n  SCHED104: {severity: info}\n", b"select: [KTO101]\n"])
    name = rng.choice([".kto-doctor.yaml", ".kto-doctor.yml", "sub/.kto-doctor.yaml"])
    run = s.root / "lf-kto-lr-too-high"
    files = {f"run/{p.name}": s.read(p) for p in run.iterdir() if p.is_file()}
    files[f"run/{name}"] = text
    argv = ["analyze", "{run}", "--format", "json", "-o", "out.json"]
    return Case("trust", f"trust:{name}", files=files, argv=argv, expect_exit=(1,))


def baseline(rng, s):
    doc = rng.choice(['{"schema_version": "1", "findings": []}', '{"schema_version": null, "findings": []}',
                      '{"findings": [{"rule": "KTO101", "bucket": NaN}]}', '{"findings": [{"rule": "X", "bucket": 1e400}]}',
                      '{"findings": [{"rule": "X", "bucket": "3"}]}', '{"findings": ' + "[" * 50_000 + "]" * 50_000 + "}",
                      '{"schema_version": 1e400, "findings": []}', '{"findings": {}}', "\0\0\0", '{"findings": [1]}'])
    return Case("baseline", "baseline", files={"run/trainer_state.json": s.pick(rng, "trainer_state.json"),
                                               "b.json": doc.encode()},
                argv=analyze(["--baseline", "{case}/b.json"]), expect_exit=(2,))


def rule_tests(rng, s):
    series = rng.choice(["nan", "1e300x3", "1" * 60_000, "1" * 30_000 + "z", "inf -inf", "1x" + "9" * 5000,
                         "0..1x" + "9" * 30, "1e999999", "-" * 10_000])
    field = rng.choice(["steps", "series"])
    case = {"name": "t", "series": {"kl": series if field == "series" else "1x3"}, "expect": {"fires": False}}
    if field == "steps":
        case["steps"] = series
    rule = {"id": "TEAM901", "name": "team-x", "symptom": "kl-high", "severity": "info", "title": "x",
            "message": "y", "methods": ["kto"], "requires": {"metrics": ["kl"]}, "when": "kl > 5", "tests": [case]}
    # inf, nan and 1e300 are values a series may hold (the case can pass: exit 0); what matters is a clear
    # answer in bounded time, never an internal error
    return Case("rule_tests", f"rule_tests:{field}", files={"r.yaml": json.dumps(rule).encode()},
                argv=["rules", "test", "{case}/r.yaml"], run=".", expect_exit=(0, 1, 2))


# ------------------------------------------------------------------------------------ lead: opener, discovery

def special_files(rng, s):
    kind = rng.choice(["fifo-beside", "fifo-direct", "devzero-state", "urandom-console", "loop", "out", "socket"])
    files = {"run/trainer_log.jsonl": s.pick(rng, "trainer_log.jsonl")}
    specials, run, expect, argv = [], "run", (0, 1), analyze()
    if kind == "fifo-beside":
        specials.append(("fifo", f"run/{rng.choice(['console.log', 'trainer_state.json', 'x.yaml'])}"))
    elif kind == "fifo-direct":
        specials.append(("fifo", "run/console.log"))
        run, expect = "run/console.log", (2,)
    elif kind == "devzero-state":
        specials.append(("symlink", "run/trainer_state.json", "/dev/zero"))
    elif kind == "urandom-console":
        specials.append(("symlink", "run/console.log", "/dev/urandom"))
    elif kind == "loop":
        specials += [("symlink", "run/a/b", ".."), ("symlink", "run/loop", "loop")]
        argv = ["scan", "{case}", "--format", "json", "-o", "out.json"]
    elif kind == "socket":
        specials.append(("socket", "run/console.log"))
    else:
        specials.append(("symlink", "run/outside", "/usr/share"))
        argv = analyze()
    return Case("special_files", f"special_files:{kind}", owner="lead", files=files, specials=specials, run=run,
                argv=argv, expect_exit=expect, timeout=30)


def encodings(rng, s):
    name = rng.choice(["trainer_log.jsonl", "console.log", "trainer_state.json"])
    pristine = s.pick(rng, name)
    kind = rng.choice(["utf-16-le-bom", "utf-16-be-bom", "utf-8-bom", "cr", "gzip"])
    if kind == "utf-16-le-bom":
        data = b"\xff\xfe" + pristine.decode().encode("utf-16-le")
    elif kind == "utf-16-be-bom":
        data = b"\xfe\xff" + pristine.decode().encode("utf-16-be")
    elif kind == "utf-8-bom":
        data = b"\xef\xbb\xbf" + pristine
    elif kind == "cr":
        data = pristine.replace(b"\r", b"").replace(b"\n", b"\r")
    else:
        import gzip

        data = gzip.compress(pristine, mtime=0)
    rows = {"trainer_log.jsonl": ref.trainer_log_rows, "console.log": ref.console_rows}.get(name)
    n = rows(pristine) if rows else sum(ref.is_state_row(r) for r in json.loads(pristine)["log_history"])
    out = name + (".gz" if kind == "gzip" else "")
    return Case("encodings", f"encodings:{name}:{kind}", owner="lead", files={f"run/{out}": data},
                argv=analyze(), rows=[(out, "ge" if name == "console.log" else "eq", n)])


def long_line(rng, s):
    size = 48 << 20
    return Case("long_line", "long_line", owner="lead", argv=analyze(),
                files={"run/console.log": s.pick(rng, "console.log") + b"x" * size,
                       "run/trainer_log.jsonl": s.pick(rng, "trainer_log.jsonl") + b"{" * (size // 4)},
                timeout=60)


# ------------------------------------------------------------------------------------ ux: scan

def scan_names(rng, s):
    folders = ["a[/x]", "[link=https://evil.example]y[/link]", "[bold]z", "b\x1b[31mred", "c\n::add-mask::x"]
    files = {}
    for f in rng.sample(folders, 3):
        files[f"runs/{f}/trainer_log.jsonl"] = s.pick(rng, "trainer_log.jsonl")
    return Case("scan_names", "scan_names", owner="ux", files=files, run="runs", hostile=True,
                argv=["scan", "{run}", "--isolated", *ALL_FORMATS[:-4]])


def _scan_runs(rng, s, n=16):
    return {f"runs/r{i:02d}/trainer_state.json": s.pick(rng, "trainer_state.json") for i in range(n)}


SCAN = ["scan", "{run}", "--isolated", "-j", "2", "--format", "json", "-o", "out.json"]


def scan_sigint(rng, s):
    """Ctrl-C mid-sweep (just after its workers start): it stops promptly (exit 130) with what it has.

    400 runs, so that a fast machine is still mid-sweep when the signal comes."""
    return Case("scan_sigint", "scan_sigint", owner="ux", files=_scan_runs(rng, s, n=400), run="runs", argv=SCAN,
                subprocess=True, action="sigint", expect_exit=(130,), must_output=True, timeout=60)


def scan_kill_worker(rng, s):
    """A worker killed mid-sweep: its runs are error rows that fail the gate."""
    return Case("scan_kill_worker", "scan_kill_worker", owner="ux", files=_scan_runs(rng, s), run="runs",
                argv=SCAN, subprocess=True, action="kill-worker", expect_exit=(1, 2), timeout=120)


def scan_unreadable(rng, s):
    """A folder the user cannot read (mode 000; run as nobody when root) is an error row, never silence: it is
    named on stderr. The exit code is the gate over the runs analysed (scan's documented contract: an unreadable
    run changes it only with --strict-errors), so 0 or 1 depending on the sample runs drawn."""
    return Case("scan_unreadable", "scan_unreadable", owner="ux", files=_scan_runs(rng, s, 6), run="runs",
                specials=[("chmod", "runs/r03", 0)], argv=SCAN, subprocess=True, expect_exit=(0, 1),
                must_mention=("r03",), timeout=120)


FAMILIES = {f.__name__: f for f in (
    ts_truncate, ts_bitflip, ts_nul, ts_deep, ts_bignum, ts_empty, tl_truncate, tl_bitflip, tl_nul, tl_crafted,
    con_truncate, con_bitflip, con_nul, con_crafted, tb_truncate, tb_bitflip, names, secrets, config_numbers,
    set_numbers, trust, baseline, rule_tests, special_files, encodings, long_line, scan_names, scan_sigint,
    scan_kill_worker, scan_unreadable)}
OWNERS = {name: ("lead" if name in ("special_files", "encodings", "long_line") else
                 "ux" if name.startswith("scan_") else "hostile") for name in FAMILIES}


def generate(family: str, seed: int, index: int, samples: Samples) -> Case:
    rng = random.Random(f"{seed}:{family}:{index}")
    return FAMILIES[family](rng, samples)
