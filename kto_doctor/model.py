"""The objects that flow through kto-doctor: Run → findings → Report.

sources/ (one reader per format) → `Run` (this module) → engine/ (rules → `Finding`) →
diagnosis (findings → ranked `Cause`) → reports/ (render a `Report`).
"""
from __future__ import annotations

from dataclasses import field
from typing import Any

from .fastclass import dataclass

SEVERITIES = ("info", "warning", "error")
SEVERITY_RANK = {"info": 0, "warning": 1, "error": 2, "never": 3}

METHODS = ("kto", "dpo", "orpo", "simpo", "sft", "grpo", "ppo", "rm", "pt", "unknown")
# One name per framework whose logs kto-doctor reads (sources state them as hints).
FRAMEWORKS = ("llamafactory", "trl", "transformers", "axolotl", "unsloth", "ms-swift", "verl", "openrlhf",
              "deepspeed-chat", "xtuner", "mmengine", "megatron", "nemo", "lightning", "torchtune", "mlx",
              "llama-recipes", "dpo-reference", "unknown")

SYMPTOMS = (
    "nan-inf", "loss-divergence", "loss-spike", "grad-explosion", "flat-loss", "loss-collapse",
    "overfitting", "logits-metric-artifact", "exploding-logits", "kl-high", "kl-high-at-start",
    "lr-schedule", "lr-out-of-range", "no-gradient", "reward-anomaly", "fp16-overflow", "truncation",
    "entropy-collapse", "reward-hacking", "unrecognised-metrics", "regression", "other",
)


@dataclass
class SourceInfo:
    path: str  # relative to the run path where possible
    format: str
    records: int
    warnings: list[str] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)
    used: bool = True  # False when a newer copy (e.g. a later checkpoint's trainer_state) superseded it

    def to_dict(self) -> dict:
        return {"path": self.path, "format": self.format, "records": self.records, "warnings": list(self.warnings)}


class Later:
    """A `Run.metrics` frame built on first use: `build()` makes it, `index` (its steps) is known without it.
    `assemble` gives one: the analysis reads only the steps, and on a long run the frame's filled columns of
    the metrics logged at some steps are as large as those metrics (12.8 MB of a 1 GB console log's peak)."""

    __slots__ = ("build", "index")

    def __init__(self, build, index) -> None:
        self.build, self.index = build, index


class _Frame:
    """`Run.metrics`: the DataFrame, built from a `Later` the first time it is read."""

    def __get__(self, run, owner=None):
        if run is None:
            raise AttributeError("metrics")  # (asked of the class by dataclasses: the field has no default)
        value = run.__dict__["metrics"]
        if type(value) is Later:
            value = run.__dict__["metrics"] = value.build()
        return value

    def __set__(self, run, value) -> None:
        run.__dict__["metrics"] = value


@dataclass
class Run:
    """One training run, from every file that was read.

    `metrics` is a pandas DataFrame indexed by global step, one column per canonical metric (NaN where a
    metric was not logged at that step). `series(name)` gives only the logged values of one metric, where a
    NaN is a logged NaN and never a gap.
    """

    path: str
    metrics: Any = _Frame()  # pandas.DataFrame (given as one, or as a `Later`); no default
    config: dict[str, Any]
    method: str = "unknown"
    framework: str = "unknown"
    method_source: str = "guessed"  # "stated" (a config, a log, --method) or "guessed" (from metric names)
    framework_source: str = "guessed"
    sources: list[SourceInfo] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, str] = field(default_factory=dict)  # metric -> source path it came from
    config_provenance: dict[str, str] = field(default_factory=dict)  # config key -> source path
    segments: list[dict] = field(default_factory=list)  # resumed runs: [{"first": s, "last": s, "source": p}]
    locations: dict[str, Any] = field(default_factory=dict)  # metric -> (source path, Series of lines by step)
    unknown_metrics: list[str] = field(default_factory=list)  # logged names the ontology does not know
    core_missing: bool = False  # none of the method's core series (loss; for RL reward/policy loss) was read
    merge_notes: list[str] = field(default_factory=list)  # how several sources became one series, per metric
    _series: dict[str, Any] = field(default_factory=dict, repr=False)

    def series(self, name: str):
        """Logged values of `name` indexed by step (pandas Series), or None when never logged."""
        return self._series.get(name)

    @property
    def metric_names(self) -> list[str]:
        return list(self._series)

    def location(self, metric: str, step: int | None) -> tuple[str, int | None] | None:
        """(file, line) where `metric` at `step` was read, for SARIF/GitHub annotations."""
        loc = self.locations.get(metric)
        if loc is None:
            src = self.provenance.get(metric)
            return (src, None) if src else None
        path, lines = loc
        if lines is None or step is None or step not in lines.index:
            return (path, None)
        line = lines.loc[step]
        if hasattr(line, "iloc"):
            line = line.iloc[0]
        return (path, int(line))

    @property
    def step_index(self):
        """The steps of `metrics` (its index), without building its columns."""
        return self.__dict__["metrics"].index

    @property
    def steps(self) -> dict:
        idx = self.step_index
        if len(idx) == 0:
            return {"first": None, "last": None, "logged": 0}
        return {"first": int(idx.min()), "last": int(idx.max()), "logged": int(len(idx))}


@dataclass
class Cause:
    id: str
    score: float
    text: str
    fixes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"id": self.id, "score": round(float(self.score), 3), "text": self.text, "fixes": list(self.fixes)}


@dataclass
class Finding:
    rule: str
    name: str
    symptom: str
    severity: str
    title: str
    message: str
    steps: list[int]  # [first, last] step of the firing window (empty for run-level findings)
    evidence: dict[str, Any] = field(default_factory=dict)
    causes: list[Cause] = field(default_factory=list)
    metrics: list[str] = field(default_factory=list)  # the metrics the finding is about (for plots, locations)
    config_keys: list[str] = field(default_factory=list)  # implicated hyperparameters (for locations)
    markers: dict[str, Any] = field(default_factory=dict)  # reference values to draw: {"predicted_loss": 0.58}
    group: str = ""
    source: str = ""  # rule file
    baseline: bool = False  # already in the --baseline file: reported, but does not fail the gate

    def to_dict(self) -> dict:
        extra = {"baseline": True} if self.baseline else {}
        return {
            "rule": self.rule,
            "name": self.name,
            "symptom": self.symptom,
            "severity": self.severity,
            "title": self.title,
            "message": self.message,
            "steps": list(self.steps),
            "evidence": _jsonable(self.evidence),
            "causes": [c.to_dict() for c in self.causes],
            **extra,
        }


@dataclass
class Skipped:
    rule: str
    reason: str
    name: str = ""

    def to_dict(self) -> dict:
        return {"rule": self.rule, "reason": self.reason}


@dataclass
class DiagnosisEntry:
    cause: str
    score: float
    title: str
    fixes: list[str]
    findings: list[str]
    kind: str = "problem"  # "problem" or "explanation" (a benign reading of an alarming number)
    detail: str = ""  # the strongest finding's wording of it, with its numbers (when it differs from the title)
    overrules: list = field(default_factory=list)  # contradicting causes this one won over: [{cause, score, findings}]

    def to_dict(self) -> dict:
        return {
            "cause": self.cause,
            "score": round(float(self.score), 3),
            "title": self.title,
            "fixes": list(self.fixes),
            "findings": list(self.findings),
            "kind": self.kind,
            **({"detail": self.detail} if self.detail else {}),
            **({"overrules": list(self.overrules)} if self.overrules else {}),
        }


@dataclass
class Report:
    run: Run
    findings: list[Finding]
    diagnosis: list[DiagnosisEntry]
    skipped: list[Skipped]
    passed: list[str] = field(default_factory=list)  # rule codes evaluated and silent
    rules: list[Any] = field(default_factory=list)  # the Rule objects that were in play (for SARIF/JUnit)
    comparison: Any = None  # compare.Comparison with --against: the reference, its alignment and bands

    @property
    def status(self) -> str:
        if getattr(self.run, "core_missing", False):
            return "inconclusive"  # read, but not understood: never healthy (contract)
        sev = {f.severity for f in self.findings}
        if "error" in sev:
            return "failing"
        if "warning" in sev:
            return "warning"
        return "healthy"

    def worst_severity(self) -> str | None:
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_RANK.__getitem__)

    def to_dict(self) -> dict:
        from . import __version__

        run = self.run
        return {
            "schema_version": 1,
            "tool": {"name": "kto-doctor", "version": __version__},
            "run": {
                "path": run.path,
                "method": run.method,
                "method_source": run.method_source,
                "framework": run.framework,
                "framework_source": run.framework_source,
                "sources": [s.to_dict() for s in run.sources],
                "steps": run.steps,
                "metrics": list(run.metric_names),
                "warnings": list(run.warnings),
                "segments": list(run.segments),
                "unrecognised_metrics": list(run.unknown_metrics),
                "merge_notes": list(run.merge_notes),
            },
            "status": self.status,
            "findings": [f.to_dict() for f in self.findings],
            "diagnosis": [d.to_dict() for d in self.diagnosis],
            "skipped": [s.to_dict() for s in self.skipped],
            **({"against": self.comparison.to_dict()} if self.comparison is not None else {}),
        }


def _jsonable(obj):
    """Evidence values as JSON-safe numbers: NaN/inf become strings, numpy scalars become Python ones."""
    import math

    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if hasattr(obj, "item") and not isinstance(obj, (str, bytes)):
        try:
            obj = obj.item()
        except (ValueError, TypeError):
            return str(obj)
    if isinstance(obj, float):
        if math.isnan(obj):
            return "nan"
        if math.isinf(obj):
            return "inf" if obj > 0 else "-inf"
        return float(f"{obj:.6g}")
    if isinstance(obj, (int, str, bool)) or obj is None:
        return obj
    return str(obj)
