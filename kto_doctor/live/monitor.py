"""Evaluate the rules on a growing run and hand out each finding once (see the package doc for the cost)."""
from __future__ import annotations

from dataclasses import field

from ..fastclass import dataclass
from ..model import Finding, Report


def finding_key(f: Finding) -> tuple:
    """A finding is "the same" across polls when its rule and metrics are: reported once."""
    return (f.rule, tuple(f.metrics))


@dataclass
class Poll:
    new: list[Finding] = field(default_factory=list)  # findings not reported before, most important first
    report: Report | None = None
    full: bool = True     # a full evaluation (else the first `head` and last `tail` rows only)
    rows: int = 0         # logged records so far, over all sources


class Monitor:
    """Sources (growing and static) → `Run` through the analyzer's own assembler → rules → new findings.

    `sources`: callables or objects with `.data(head, tail)` returning `SourceData` and `len()` (records).
    """

    def __init__(self, path: str, ruleset=None, *, select=None, ignore=None, overrides=None,
                 full_rows: int = 20_000, growth: float = 0.05, head: int = 256, tail: int = 4096):
        from ..analysis import check_selection, load_rules

        self.path = str(path)
        self.ruleset = ruleset if ruleset is not None else load_rules()
        check_selection(self.ruleset, select, ignore)
        self.select, self.ignore, self.overrides = select, ignore, overrides
        self.full_rows, self.growth, self.head, self.tail = full_rows, growth, head, tail
        self.sources: list = []      # LiveSource-like: .data(head, tail), len()
        self.static: list = []       # SourceData read once (configuration files)
        self.reported: dict[tuple, Finding] = {}
        self._last_full_rows = 0
        self.last: Report | None = None

    def rows(self) -> int:
        return sum(len(s) for s in self.sources)

    def run(self, head: int | None = None, tail: int | None = None):
        """The Run as it stands (all rows, or only the first `head` and last `tail` of each source)."""
        from ..model import SourceInfo
        from ..run import assemble

        pairs = [(s.data(head, tail), getattr(s, "rel", None)) for s in self.sources if len(s)]
        pairs += [(_copy(d), None) for d in self.static]
        datas = [d for d, _ in pairs]
        infos = [SourceInfo(path=rel or d.path.name, format=d.format, records=d.records, warnings=list(d.warnings),
                            metrics=list(d.series)) for d, rel in pairs]
        return assemble(self.path, datas, infos, [], self.overrides)

    def poll(self, final: bool = False) -> Poll:
        from ..analysis import evaluate

        n = self.rows()
        if n == 0 and not self.static:
            return Poll(rows=0)
        full = final or n <= self.full_rows or n >= self._last_full_rows * (1 + self.growth)
        run = self.run() if full else self.run(self.head, self.tail)
        report = evaluate(run, self.ruleset, select=self.select, ignore=self.ignore)
        if full:
            self._last_full_rows = n
            self.last = report
        elif run.steps["logged"]:
            window = [run.steps["first"], run.steps["last"]]
            for f in report.findings:
                f.evidence = {**f.evidence, "window": f"first {self.head} and last {self.tail} rows "
                              f"of {n:,} (steps {window[0]}-{window[1]})"}
        new = []
        for f in report.findings:
            key = finding_key(f)
            if key not in self.reported:
                self.reported[key] = f
                new.append(f)
        return Poll(new=new, report=report, full=full, rows=n)


def _copy(d):
    """Assembly rewrites steps of ordinal sources in place: give it a copy of a kept SourceData."""
    import copy

    return copy.copy(d) if not d.series else copy.deepcopy(d)
