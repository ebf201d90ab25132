"""Rule files: the schema, loading with positions, and compilation of every expression at load time.

A rule file holds either one rule (a mapping with `id`), or `rules:` (a list of rules) and/or
`overrides:` (changes to rules defined elsewhere: severity, params, enabled). The cause catalog
(`causes:` mapping) gives shared causes a title, a kind and default fixes. Every error is a `RuleError`
with file:line:col, the offending line and a caret; `kto-doctor rules check` prints them.
"""
from __future__ import annotations

import os
import re
import stat
from dataclasses import field
from pathlib import Path
from typing import Any

from ..fastclass import dataclass
from ..model import METHODS, SEVERITIES, SYMPTOMS
from ..ontology import KNOWN_METRICS
from .pos import Pos
from .expr import Compiled, ExprError, compile_expr
from .template import Template, compile_template

CODE_RE = re.compile(r"^[A-Z][A-Z0-9]*[0-9]{1,4}$")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
IDENT_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
CAUSE_ID_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")

# field -> (kind, required, description). The JSON Schema and docs/rules.md are generated from this.
RULE_FIELDS: dict[str, tuple[str, bool, str]] = {
    "id": ("code", True, "Stable rule code, letters then digits (KTO101). Never reused."),
    "name": ("slug", True, "Stable kebab-case name (kto-logits-sum-artifact); --select accepts it."),
    "symptom": ("symptom", True, "One symptom of the contract vocabulary."),
    "severity": ("severity", True, "info, warning or error when the rule fires."),
    "title": ("template", True, "One-line headline (a template)."),
    "message": ("template", True, "The explanation with the numbers that prove it (a template)."),
    "when": ("expr", True, "The condition: a series (fires on the rows where it holds) or a scalar."),
    "doc": ("text", False, "What it checks, why, and where its thresholds come from (kto-doctor explain)."),
    "group": ("str", False, "A family name for --select (stability, schedule, kto, dpo...)."),
    "methods": ("methods", False, "Methods the rule applies to (default: any)."),
    "frameworks": ("strlist", False, "Frameworks the rule applies to (default: any)."),
    "requires": ("requires", False, "metrics / any_metrics / config that must be present, else the rule is skipped."),
    "optional_metrics": ("strlist", False, "Custom metrics the rule may read when present."),
    "applies_if": ("expr", False, "A scalar condition on config/run; when false the rule is skipped."),
    "params": ("params", False, "Named thresholds (numbers, strings, booleans) used as params.<name>."),
    "let": ("lets", False, "Named values computed in order before `when` (series or scalars)."),
    "for": ("int", False, "Persistence: the condition must hold over at least this many training steps."),
    "for_rows": ("int", False, "Persistence: ... and over at least this many consecutive logged rows."),
    "tolerance": ("int", False, "Rows inside a streak that may break the condition without ending it."),
    "severity_if": ("severity_map", False, "Raise or lower the severity: {error: expr, warning: expr, info: expr}."),
    "symptom_if": ("symptom_map", False, "Name another symptom when the evidence says so: {symptom: expr}, the first that holds."),
    "evidence": ("exprmap", False, "Numbers reported with the finding: {name: expr}."),
    "markers": ("exprmap", False, "Reference values drawn on plots: {name: expr}."),
    "metrics": ("strlist", False, "Metrics the finding is about (plots, locations). Default: requires.metrics."),
    "config_keys": ("strlist", False, "Hyperparameters the finding implicates (locations in reports)."),
    "causes": ("causes", False, "Ranked probable causes: [{id, score, if, text, fixes}]."),
    "references": ("strlist", False, "Sources for the thresholds (papers, code, issue threads)."),
    "aliases": ("strlist", False, "Former codes of this rule."),
    "tags": ("strlist", False, "Free-form labels."),
    "enabled": ("bool", False, "false disables the rule."),
    "tests": ("tests", False, "Test cases run by `kto-doctor rules test` (see docs/rules.md)."),
}
# Names a finding adds to the scope of the fields evaluated once the rule fires (templates, evidence,
# markers, severity_if, causes): the first metric's series, the firing window and its row count.
FINDING_NAMES = ("value", "first_step", "last_step", "count")
CAUSE_FIELDS = {"id", "score", "if", "text", "fixes"}
REQUIRES_FIELDS = {"metrics", "any_metrics", "config"}
OVERRIDE_FIELDS = {"rule", "severity", "params", "enabled", "reason"}
CATALOG_FIELDS = {"title", "kind", "fixes", "excludes"}


class RuleError(Exception):
    """A rule file problem, located at file:line:col."""

    def __init__(self, message: str, pos: Pos | None = None, length: int = 1,
                 hint: str | None = None, rule: str | None = None, field_name: str | None = None,
                 quote: bool = True):
        super().__init__(message)
        self.message, self.pos, self.length, self.hint = message, pos, max(1, length), hint
        self.rule, self.field_name = rule, field_name
        # False for a file that did not parse as a rule file: its line is not shown (a config pointing at a
        # secret must not print it into a CI log)
        self.quote = quote

    def __str__(self) -> str:
        return f"{self.pos}: {self.message}" if self.pos else self.message

    def render(self, source_text: str | None = None) -> str:
        where = str(self.pos) if self.pos else "<rules>"
        ctx = []
        if self.rule:
            ctx.append(f"rule {self.rule}")
        if self.field_name:
            ctx.append(f"field `{self.field_name}`")
        head = f"{where}: error: {self.message}" + (f" ({', '.join(ctx)})" if ctx else "")
        lines = [head]
        if source_text is not None and self.pos and self.quote:
            src_lines = source_text.splitlines()
            if 0 < self.pos.line <= len(src_lines):
                text = src_lines[self.pos.line - 1]
                num = str(self.pos.line)
                lines.append(f"{num} | {text}")
                lines.append(" " * len(num) + " | " + " " * (self.pos.col - 1) + "^" * self.length)
        if self.hint:
            lines.append(f"  = help: {self.hint}")
        return "\n".join(lines)


@dataclass
class CauseSpec:
    id: str
    score: float
    condition: Compiled | None
    text: Template | None
    fixes: list[Template]


@dataclass
class CatalogCause:
    id: str
    title: str
    kind: str = "problem"
    fixes: list[str] = field(default_factory=list)
    # Causes that contradict this one (the learning rate cannot be too high and too low). Declared on either
    # side; the diagnosis keeps whichever the findings support more (kto_doctor/diagnosis.py).
    excludes: tuple[str, ...] = ()
    excludes_pos: Any = None  # where `excludes` was written (errors)


@dataclass
class Rule:
    id: str
    name: str
    symptom: str
    severity: str
    title: Template
    message: Template
    when: Compiled
    doc: str = ""
    group: str = ""
    methods: tuple[str, ...] = ()
    frameworks: tuple[str, ...] = ()
    requires_metrics: tuple[str, ...] = ()
    requires_any: tuple[str, ...] = ()
    requires_config: tuple[str, ...] = ()
    applies_if: Compiled | None = None
    params: dict[str, Any] = field(default_factory=dict)
    lets: list[tuple[str, Compiled]] = field(default_factory=list)
    for_steps: int = 0
    for_rows: int = 1
    tolerance: int = 0
    severity_if: list[tuple[str, Compiled]] = field(default_factory=list)
    symptom_if: list[tuple[str, Compiled]] = field(default_factory=list)
    evidence: list[tuple[str, Compiled]] = field(default_factory=list)
    markers: list[tuple[str, Compiled]] = field(default_factory=list)
    metrics: tuple[str, ...] = ()
    config_keys: tuple[str, ...] = ()
    causes: list[CauseSpec] = field(default_factory=list)
    references: tuple[str, ...] = ()
    aliases: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    enabled: bool = True
    disabled_reason: str = ""
    tests: list[dict] = field(default_factory=list)
    source: str = ""  # file path
    pos: Pos | None = None
    builtin: bool = False
    raw: dict = field(default_factory=dict)  # the YAML mapping, for explain and recompilation

    @property
    def title_text(self) -> str:
        return self.raw.get("title", "")


@dataclass
class RuleSet:
    rules: list[Rule] = field(default_factory=list)
    catalog: dict[str, CatalogCause] = field(default_factory=dict)
    overrides: list[dict] = field(default_factory=list)

    def by_code(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    def find(self, key: str) -> Rule | None:
        k = key.strip()
        for r in self.rules:
            if r.id == k.upper() or r.name == k.lower() or k.upper() in r.aliases:
                return r
        return None


# --------------------------------------------------------------------------------------------------


def builtin_rules_dir() -> Path:
    """The shipped rules: inside the installed package, or rules/ beside it in a source checkout."""
    here = Path(__file__).resolve().parent.parent
    packaged = here / "_builtin_rules"
    if packaged.is_dir():
        return packaged
    return here.parent / "rules"


TEST_FILE_SUFFIXES = (".tests.yaml", ".tests.yml")
MAX_RULE_FILE = 4 << 20  # bytes; a larger "rule file" is something else


def is_test_file(path) -> bool:
    """`*.tests.yaml`: rule test cases (`kto-doctor rules test`), not rules."""
    return str(path).endswith(TEST_FILE_SUFFIXES)


def rule_files(path: Path) -> list[Path]:
    """The rule files of a folder (recursively; test files and dot-files left out), or the file itself."""
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                      and not p.name.startswith(".") and not is_test_file(p))
    return [path]


def load_paths(paths, *, builtin: bool = False, ruleset: RuleSet | None = None) -> RuleSet:
    """Load rule files (files or folders) into a RuleSet. Raises RuleError on the first problem."""
    rs = ruleset or RuleSet()
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise RuleError(f"{p}: no such rule file or folder")
        files.extend(rule_files(p))
    # Catalogs first: rules refer to their causes.
    texts = {}
    for f in files:
        try:
            st = os.stat(f)
            if not stat.S_ISREG(st.st_mode):  # a FIFO would block, /dev/zero never end
                raise RuleError(f"{f}: not a regular file")
            if st.st_size > MAX_RULE_FILE:
                raise RuleError(f"{f}: larger than {MAX_RULE_FILE >> 20} MB: not a rule file")
            texts[f] = f.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise RuleError(f"{f}: cannot read ({e})") from None
    parsed = {}
    for f in files:
        data, positions = _parse(texts[f], str(f))
        parsed[f] = (data, positions)
        if isinstance(data, dict) and "causes" in data and "id" not in data:
            _load_catalog(data["causes"], positions, rs, str(f))
    for f in files:
        data, positions = parsed[f]
        _load_document(data, positions, rs, str(f), texts[f], builtin)
    _check_duplicates(rs)
    _check_excludes(rs)
    return rs


def _check_excludes(rs: RuleSet) -> None:
    """Every cause an `excludes:` names is in the catalog (a typo would silently never apply)."""
    import difflib

    for cid, cat in rs.catalog.items():
        for other in cat.excludes:
            if other not in rs.catalog:
                close = difflib.get_close_matches(other, list(rs.catalog), n=1)
                raise RuleError(f"cause '{cid}' excludes '{other}', which is not in the cause catalog",
                                cat.excludes_pos, length=len(other),
                                hint=f"did you mean '{close[0]}'?" if close else None)


def load_builtin() -> RuleSet:
    """The shipped rules: from their compiled form when the package has an up-to-date one (compiled.py),
    else compiled from the YAML files."""
    from . import compiled

    return compiled.load() or load_paths([builtin_rules_dir()], builtin=True)


def _parse(text, filename):
    from . import yamlpos  # here: a start on the compiled built-in rules never imports PyYAML

    try:
        return yamlpos.load(text, filename)
    except yamlpos.YamlError as e:
        raise RuleError(e.message, e.pos, quote=False) from None


def _load_document(data, positions, rs: RuleSet, filename, text, builtin):
    if data is None:
        return
    if not isinstance(data, dict) or not data.keys() & {"id", "rules", "overrides", "causes"}:
        raise RuleError("not a rule file: a rule file is a mapping with `id:` (one rule), `rules:`, "
                        "`overrides:` or `causes:`", positions.get_pos(()), quote=False)
    if "id" in data:
        rs.rules.append(compile_rule(data, positions, (), filename, rs, builtin))
        return
    unknown = set(data) - {"rules", "overrides", "causes", "version"}
    if unknown:
        key = sorted(unknown)[0]
        raise RuleError(f"unknown top-level key '{key}'", positions.get_pos((key, "__key__")),
                        length=len(key), hint="top-level keys: id (one rule), rules, overrides, causes, version")
    for i, item in enumerate(data.get("rules") or []):
        if not isinstance(item, dict):
            raise RuleError("each entry of `rules:` must be a mapping", positions.get_pos(("rules", i)))
        rs.rules.append(compile_rule(item, positions, ("rules", i), filename, rs, builtin))
    for i, ov in enumerate(data.get("overrides") or []):
        rs.overrides.append(_check_override(ov, positions, ("overrides", i), filename))


def _load_catalog(causes, positions, rs: RuleSet, filename):
    if not isinstance(causes, dict):
        raise RuleError("`causes:` must map cause ids to {title, kind, fixes}", positions.get_pos(("causes",)))
    for cid, spec in causes.items():
        pos = positions.get_pos(("causes", cid, "__key__"))
        if not CAUSE_ID_RE.match(cid):
            raise RuleError(f"cause id '{cid}' must be kebab-case", pos, length=len(cid))
        if not isinstance(spec, dict) or "title" not in spec:
            raise RuleError(f"cause '{cid}' needs a title", pos, length=len(cid))
        extra = set(spec) - CATALOG_FIELDS
        if extra:
            k = sorted(extra)[0]
            raise RuleError(f"unknown field '{k}' in cause '{cid}'", positions.get_pos(("causes", cid, k, "__key__")),
                            length=len(k), hint="cause fields: title, kind, fixes, excludes")
        kind = spec.get("kind", "problem")
        if kind not in ("problem", "explanation"):
            raise RuleError("cause kind is problem or explanation", positions.get_pos(("causes", cid, "kind")))
        fixes = spec.get("fixes") or []
        if isinstance(fixes, str):
            fixes = [fixes]
        check_not_cut(positions, ("causes", cid, "title"), spec["title"], fld=f"causes.{cid}.title")
        for j, fx in enumerate(fixes if isinstance(fixes, list) else [fixes]):
            if not isinstance(fx, str):
                raise RuleError(f"fixes of cause '{cid}' must be text (quote a fix that contains ': ')",
                                positions.get_pos(("causes", cid, "fixes", j)))
            check_not_cut(positions, ("causes", cid, "fixes", j), fx, fld=f"causes.{cid}.fixes")
        excl = spec.get("excludes") or []
        if isinstance(excl, str):
            excl = [excl]
        if not isinstance(excl, list) or not all(isinstance(x, str) and CAUSE_ID_RE.match(x) for x in excl):
            raise RuleError(f"excludes of cause '{cid}' is a list of cause ids",
                            positions.get_pos(("causes", cid, "excludes")))
        if cid in excl:
            raise RuleError(f"cause '{cid}' cannot exclude itself", positions.get_pos(("causes", cid, "excludes")))
        rs.catalog[cid] = CatalogCause(cid, str(spec["title"]), kind, list(fixes), tuple(excl),
                                       positions.get_pos(("causes", cid, "excludes")) if excl else None)


_OPEN, _CLOSE = "([{", ")]}"


def _balanced(text: str) -> bool:
    depth = {o: 0 for o in _OPEN}
    for ch in text:
        if ch in _OPEN:
            depth[ch] += 1
        elif ch in _CLOSE:
            depth[_OPEN[_CLOSE.index(ch)]] -= 1
    return all(v == 0 for v in depth.values())


def check_not_cut(positions, path, value, rule: str | None = None, fld: str | None = None) -> None:
    """Refuse prose that a YAML comment cut short: `- Upgrade TRL (PR #1499 uses nanmean)` unquoted is the
    text `Upgrade TRL (PR`. A comment after unquoted text is taken as a cut when it starts like a reference
    (`#1499`, no space) or leaves brackets unbalanced; `text  # a note` is an ordinary comment."""
    at = positions.comment_after(path) if hasattr(positions, "comment_after") else None
    if at is None or not isinstance(value, str):
        return
    src_text, starts = positions._src
    after = src_text[starts[at.line - 1] + at.col:starts[at.line - 1] + at.col + 1]
    if after[:1].isalnum() or not _balanced(value):
        raise RuleError("this text is cut short by a YAML comment: an unquoted ' #' starts a comment",
                        at, hint="quote the whole text (\"...\") so the '#' belongs to it", rule=rule,
                        field_name=fld)


def _check_override(ov, positions, path, filename):
    pos = positions.get_pos(path)
    if not isinstance(ov, dict) or "rule" not in ov:
        raise RuleError("an override needs `rule:` (a code, name or prefix)", pos)
    extra = set(ov) - OVERRIDE_FIELDS
    if extra:
        k = sorted(extra)[0]
        raise RuleError(f"unknown override field '{k}'", positions.get_pos(path + (k, "__key__")), length=len(k),
                        hint="override fields: rule, severity, params, enabled, reason")
    if "severity" in ov and ov["severity"] not in SEVERITIES:
        raise RuleError(f"severity must be one of {', '.join(SEVERITIES)}", positions.get_pos(path + ("severity",)))
    if "params" in ov and not isinstance(ov["params"], dict):
        raise RuleError("override params must be a mapping", positions.get_pos(path + ("params",)))
    return dict(ov, _pos=pos)


def _check_duplicates(rs: RuleSet):
    seen: dict[str, Rule] = {}
    names: dict[str, Rule] = {}
    for r in rs.rules:
        if r.id in seen:
            other = seen[r.id]
            raise RuleError(f"duplicate rule code {r.id} (also defined at {other.pos})", r.pos, length=len(r.id),
                            hint="rule codes are unique; to change a built-in use `overrides:`")
        if r.name in names:
            other = names[r.name]
            raise RuleError(f"duplicate rule name {r.name} (also {other.id} at {other.pos})", r.pos)
        seen[r.id] = r
        names[r.name] = r


# --------------------------------------------------------------------------------------------------
# Compilation of one rule
# --------------------------------------------------------------------------------------------------


def compile_rule(d: dict, positions, base: tuple, filename: str, rs: RuleSet, builtin: bool) -> Rule:
    rule_code = d.get("id") if isinstance(d.get("id"), str) else None

    def pos(*path):
        return positions.get_pos(base + path)

    def key_pos(name):
        return positions.get_pos(base + (name, "__key__"))

    def err(msg, *path, length=1, hint=None, fld=None):
        return RuleError(msg, pos(*path), length=length, hint=hint, rule=rule_code, field_name=fld)

    for k in d:
        if k not in RULE_FIELDS:
            import difflib

            close = difflib.get_close_matches(k, list(RULE_FIELDS), n=1)
            raise RuleError(f"unknown field '{k}'", key_pos(k), length=len(k), rule=rule_code,
                            hint=f"did you mean '{close[0]}'?" if close else "see `kto-doctor rules schema`")
    for k, (_, required, _) in RULE_FIELDS.items():
        if required and k not in d:
            raise RuleError(f"missing required field '{k}'", pos(), rule=rule_code)
    if builtin and not d.get("doc"):
        raise err("built-in rules need a `doc:`", fld="doc")

    code = d["id"]
    if not isinstance(code, str) or not CODE_RE.match(code):
        raise err("rule id must be capital letters then digits, e.g. KTO101 or TEAM7", "id", fld="id")
    name = d["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise err("rule name must be kebab-case, e.g. kl-too-high", "name", fld="name")
    if d["symptom"] not in SYMPTOMS:
        import difflib

        close = difflib.get_close_matches(str(d["symptom"]), SYMPTOMS, n=1)
        raise err(f"unknown symptom '{d['symptom']}'", "symptom", length=len(str(d["symptom"])), fld="symptom",
                  hint=f"did you mean '{close[0]}'?" if close else "symptoms: " + ", ".join(SYMPTOMS))
    if d["severity"] not in SEVERITIES:
        raise err(f"severity must be one of {', '.join(SEVERITIES)}", "severity", fld="severity")

    def strlist(key):
        v = d.get(key) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise err(f"`{key}` must be a list of strings", key, fld=key)
        return tuple(v)

    methods = d.get("methods", "any")
    if methods == "any" or methods is None:
        methods = ()
    else:
        methods = strlist("methods")
        for i, m in enumerate(methods):
            if m not in METHODS:
                raise err(f"unknown method '{m}'", "methods", i, fld="methods", hint="methods: " + ", ".join(METHODS))

    req = d.get("requires") or {}
    if not isinstance(req, dict):
        raise err("`requires` is a mapping: {metrics: [...], any_metrics: [...], config: [...]}", "requires")
    for k in req:
        if k not in REQUIRES_FIELDS:
            raise RuleError(f"unknown field '{k}' in requires", positions.get_pos(base + ("requires", k, "__key__")),
                            length=len(k), rule=code, hint="requires: metrics, any_metrics, config")
    req_lists = {}
    for k in REQUIRES_FIELDS:
        v = req.get(k) or []
        if isinstance(v, str):
            v = [v]
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            raise err(f"requires.{k} must be a list of strings", "requires", k)
        req_lists[k] = tuple(v)

    params = d.get("params") or {}
    if not isinstance(params, dict):
        raise err("`params` must be a mapping of names to values", "params", fld="params")
    for k, v in params.items():
        if not IDENT_RE.match(k):
            raise RuleError(f"param name '{k}' must be an identifier", positions.get_pos(base + ("params", k, "__key__")),
                            rule=code)
        if not isinstance(v, (int, float, str, bool)) and v is not None and not (
                isinstance(v, list) and all(isinstance(x, (int, float, str)) for x in v)):
            raise err(f"param '{k}' must be a number, string, boolean or list of them", "params", k)

    declared = set(req_lists["metrics"]) | set(req_lists["any_metrics"]) | set(strlist("optional_metrics")) | set(
        strlist("metrics"))
    let_names: list[str] = []
    known = set(KNOWN_METRICS)

    def cexpr(src, *path, fld, lets=None):
        p = pos(*path)
        if not isinstance(src, str):
            if isinstance(src, bool) or isinstance(src, (int, float)):
                src = str(src)
            else:
                raise RuleError("expected an expression string", p, rule=code, field_name=fld)
        try:
            return compile_expr(src, params=set(params), lets=set(let_names if lets is None else lets),
                                known_metrics=known, declared_metrics=declared)
        except ExprError as e:
            raise RuleError(e.message, p.at(e.col) if p else None, length=e.length, hint=e.hint, rule=code,
                            field_name=fld) from None

    def ctemplate(src, *path, fld):
        p = pos(*path)
        if not isinstance(src, str):
            raise RuleError("expected text", p, rule=code, field_name=fld)
        check_not_cut(positions, base + path, src, rule=code, fld=fld)
        try:
            return compile_template(src, params=set(params), lets=set(let_names) | set(FINDING_NAMES),
                                    known_metrics=known,
                                    declared_metrics=declared)
        except ExprError as e:
            raise RuleError(e.message, p.at(e.col) if p and (p.segments or not p.block) else p, length=e.length,
                            hint=e.hint,
                            rule=code, field_name=fld) from None

    applies_if = cexpr(d["applies_if"], "applies_if", fld="applies_if") if "applies_if" in d else None

    lets_spec = d.get("let") or {}
    if not isinstance(lets_spec, dict):
        raise err("`let` must be a mapping of names to expressions, evaluated in order", "let", fld="let")
    lets: list[tuple[str, Compiled]] = []
    reserved = {"config", "params", "run", "step", "value", "m"}
    for lname, src in lets_spec.items():
        if not IDENT_RE.match(lname) or lname in reserved:
            raise RuleError(f"let name '{lname}' must be an identifier other than {', '.join(sorted(reserved))}",
                            positions.get_pos(base + ("let", lname, "__key__")), length=len(lname), rule=code)
        lets.append((lname, cexpr(src, "let", lname, fld=f"let.{lname}")))
        let_names.append(lname)

    when = cexpr(d["when"], "when", fld="when")

    def intfield(key, minimum):
        v = d.get(key)
        if v is None:
            return None
        if isinstance(v, str):
            m = re.match(r"^\s*(\d+)\s*(steps?|rows?)?\s*$", v)
            if not m:
                raise err(f"`{key}` is a whole number (of steps)", key, fld=key)
            v = int(m.group(1))
        if not isinstance(v, int) or isinstance(v, bool) or v < minimum:
            raise err(f"`{key}` must be a whole number >= {minimum}", key, fld=key)
        return v

    after = set(let_names) | set(FINDING_NAMES)  # fields evaluated once the rule has fired
    sev_if = []
    sev_map = d.get("severity_if") or {}
    if not isinstance(sev_map, dict):
        raise err("`severity_if` maps a severity to a condition", "severity_if")
    for sev in ("error", "warning", "info"):
        if sev in sev_map:
            sev_if.append((sev, cexpr(sev_map[sev], "severity_if", sev, fld=f"severity_if.{sev}", lets=after)))
    for k in sev_map:
        if k not in SEVERITIES:
            raise err(f"unknown severity '{k}' in severity_if", "severity_if", k)

    sym_if = []
    sym_map = d.get("symptom_if") or {}
    if not isinstance(sym_map, dict):
        raise err("`symptom_if` maps a symptom to a condition", "symptom_if")
    for k, cond in sym_map.items():
        if k not in SYMPTOMS:
            import difflib

            close = difflib.get_close_matches(str(k), SYMPTOMS, n=1)
            raise err(f"unknown symptom '{k}' in symptom_if", "symptom_if", k,
                      hint=f"did you mean '{close[0]}'?" if close else "symptoms: " + ", ".join(SYMPTOMS))
        sym_if.append((k, cexpr(cond, "symptom_if", k, fld=f"symptom_if.{k}", lets=after)))

    def exprmap(key):
        m = d.get(key) or {}
        if not isinstance(m, dict):
            raise err(f"`{key}` maps names to expressions", key, fld=key)
        return [(k, cexpr(v, key, k, fld=f"{key}.{k}", lets=after)) for k, v in m.items()]

    causes = []
    for i, c in enumerate(d.get("causes") or []):
        if isinstance(c, str):
            c = {"id": c}
        if not isinstance(c, dict) or "id" not in c:
            raise err("each cause needs an `id`", "causes", i, fld="causes")
        extra = set(c) - CAUSE_FIELDS
        if extra:
            k = sorted(extra)[0]
            raise RuleError(f"unknown cause field '{k}'", positions.get_pos(base + ("causes", i, k, "__key__")),
                            length=len(k), rule=code, hint="cause fields: id, score, if, text, fixes")
        cid = c["id"]
        if not isinstance(cid, str) or not CAUSE_ID_RE.match(cid):
            raise err("cause id must be kebab-case", "causes", i, "id")
        if cid not in rs.catalog and "text" not in c:
            import difflib

            close = difflib.get_close_matches(cid, list(rs.catalog), n=1)
            raise err(f"cause '{cid}' is not in the cause catalog and has no `text`", "causes", i, "id",
                      length=len(cid), hint=f"did you mean '{close[0]}'?" if close else "add text: and fixes:")
        score = c.get("score", 0.5)
        if not isinstance(score, (int, float)) or isinstance(score, bool) or not 0 <= score <= 1:
            raise err("cause score is a number from 0 to 1", "causes", i, "score")
        cond = cexpr(c["if"], "causes", i, "if", fld=f"causes[{i}].if", lets=after) if "if" in c else None
        text = ctemplate(c["text"], "causes", i, "text", fld=f"causes[{i}].text") if "text" in c else None
        fixes_src = c.get("fixes") or []
        if isinstance(fixes_src, str):
            fixes_src = [fixes_src]
        fixes = [ctemplate(fx, "causes", i, "fixes", j, fld=f"causes[{i}].fixes") for j, fx in enumerate(fixes_src)]
        causes.append(CauseSpec(cid, float(score), cond, text, fixes))

    tests = d.get("tests") or []
    if not isinstance(tests, list):
        raise err("`tests` is a list of test cases", "tests")

    title_t = ctemplate(d["title"], "title", fld="title")
    message_t = ctemplate(d["message"], "message", fld="message")
    ev_list, mk_list = exprmap("evidence"), exprmap("markers")
    # A threshold nobody reads is a silent bug (a `min_rows` the author thinks applies): refuse it.
    compiled = [applies_if, when] + [c for _, c in lets] + [c for _, c in sev_if] + [c for _, c in ev_list] + [
        c for _, c in mk_list] + [c.condition for c in causes]
    used = set()
    for c in compiled:
        if c is not None:
            used |= c.params
    for t in [title_t, message_t] + [c.text for c in causes if c.text] + [fx for c in causes for fx in c.fixes]:
        for part in t.parts:
            if not isinstance(part, str):
                used |= part.expr.params
    for k in params:
        if k not in used:
            raise RuleError(f"param '{k}' is declared but no expression or template reads it",
                            positions.get_pos(base + ("params", k, "__key__")), length=len(k), rule=code,
                            field_name="params", hint=f"use params.{k} (or remove it)")

    metrics = strlist("metrics") or req_lists["metrics"] or req_lists["any_metrics"]
    if not metrics:
        metrics = tuple(sorted(when.metrics))
    enabled = d.get("enabled", True)
    if not isinstance(enabled, bool):
        raise err("`enabled` is true or false", "enabled")

    return Rule(
        id=code, name=name, symptom=d["symptom"], severity=d["severity"],
        title=title_t, message=message_t,
        when=when, doc=str(d.get("doc") or ""), group=str(d.get("group") or ""),
        methods=tuple(methods), frameworks=strlist("frameworks"),
        requires_metrics=req_lists["metrics"], requires_any=req_lists["any_metrics"],
        requires_config=req_lists["config"], applies_if=applies_if, params=dict(params), lets=lets,
        for_steps=intfield("for", 0) or 0, for_rows=intfield("for_rows", 1) or 1,
        tolerance=intfield("tolerance", 0) or 0, severity_if=sev_if, symptom_if=sym_if,
        evidence=ev_list, markers=mk_list, metrics=tuple(metrics),
        config_keys=strlist("config_keys") or tuple(sorted(when.config_keys)), causes=causes,
        references=strlist("references"), aliases=strlist("aliases"), tags=strlist("tags"),
        enabled=enabled, tests=tests, source=filename, pos=pos(), builtin=builtin, raw=d,
    )


def apply_overrides(rs: RuleSet, overrides: list[dict]) -> None:
    """Change severity, params or enabled of rules by code, code prefix or name (Falco-style)."""
    for ov in overrides:
        key = str(ov["rule"])
        targets = [r for r in rs.rules if matches(r, key)]
        if not targets:
            raise RuleError(f"override names no rule: '{key}'", ov.get("_pos"))
        for r in targets:
            if "severity" in ov:
                r.severity = ov["severity"]
            if "enabled" in ov:
                r.enabled = bool(ov["enabled"])
                r.disabled_reason = "" if r.enabled else str(ov.get("reason") or "")
            if "params" in ov:
                unknown = set(ov["params"]) - set(r.params)
                if unknown:
                    raise RuleError(f"override sets unknown param '{sorted(unknown)[0]}' of {r.id}", ov.get("_pos"),
                                    hint="params of " + r.id + ": " + ", ".join(sorted(r.params)) if r.params else None)
                r.params.update(ov["params"])


def matches(rule: Rule, key: str) -> bool:
    """--select/--ignore matching: a code, a code prefix, a name, a symptom, a group, or 'ALL'."""
    k = key.strip()
    if not k:
        return False
    if k.upper() == "ALL":
        return True
    up = k.upper()
    if rule.id == up or up in rule.aliases or (up.isalnum() and rule.id.startswith(up) and not up.isdigit()):
        return True
    low = k.lower()
    return low in (rule.name, rule.symptom, rule.group) or low in rule.tags


def select(rules: list[Rule], select_keys=None, ignore_keys=None) -> list[Rule]:
    out = rules
    if select_keys:
        out = [r for r in out if any(matches(r, k) for k in select_keys)]
    if ignore_keys:
        out = [r for r in out if not any(matches(r, k) for k in ignore_keys)]
    return out
