"""kto-doctor's accuracy on labelled real logs, as a product figure: docs/accuracy.md is this script's output.

    python scripts/accuracy.py                      # print the report for the sets that are present
    python scripts/accuracy.py --write              # regenerate docs/accuracy.md (absent sets keep their section)
    python scripts/accuracy.py --check              # exit 1 when docs/accuracy.md differs from what the code gives
    python scripts/accuracy.py --set dev=/path/to/labelled/dir   # score another labelled folder (printed only)

A labelled set is a folder with a `labels.yaml` in the corpus schema (`items: [{path, label, secondary_labels,
confidence, tuned, ...}]`). Two sets are built in: `fixtures` (tests/fixtures/real, the dev-set items the
repository ships, always present) and `corpus` (../shared/corpus, the shared labelled corpus, present where the
repository sits next to ../shared). tests/test_accuracy.py re-runs this and compares it with docs/accuracy.md.

Scoring (docs/accuracy.md repeats it):
- lenient: `healthy` and `expected-behaviour` agree when no finding is an error (the default gate passes);
  `other` when some finding is a warning or worse; any other label when a warning-or-worse finding carries one
  of the label's accepted symptoms (ACCEPT; for `logits-metric-artifact` an info finding suffices and no finding
  may say `exploding-logits`). Same rule as ../shared/tools/corpus-report.
- strict: the primary label is the reading the report leads with. `healthy`: no warning-or-worse finding at all;
  `expected-behaviour`: no warning-or-worse finding and the report explains something under "Not a problem";
  any other label: the first warning-or-worse finding (the first finding of any severity for
  `logits-metric-artifact`) carries an accepted symptom.
- per-class precision and recall: a class is predicted when a warning-or-worse finding carries one of its
  symptoms; a prediction is right when the class is the item's primary label or one of its secondary labels
  (readings an expert accepts); recall counts the items whose primary label is the class.
- confusion: the primary label against the class of the report's leading reading (CLASS_OF_SYMPTOM).
- false alarms: runs labelled healthy or expected-behaviour with an error finding (the gate fails: lenient) or
  with any warning-or-worse finding (strict).
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "accuracy.md"
BUILTIN_SETS = {
    "fixtures": ROOT / "tests" / "fixtures" / "real",
    "corpus": ROOT.parent / "shared" / "corpus",
}
SET_TITLES = {
    "fixtures": "Dev set shipped with the repository (tests/fixtures/real)",
    "corpus": "Shared labelled corpus (../shared/corpus)",
}

# label -> symptoms of the public contract that agree with it (../shared/tools/corpus-report, extended to the
# RL and expected-behaviour labels of the team's dev set)
ACCEPT = {
    "nan": {"nan-inf"},
    "divergence": {"loss-divergence", "loss-spike", "grad-explosion"},
    "flat-loss": {"flat-loss", "no-gradient", "lr-schedule"},
    "loss-collapse": {"loss-collapse"},
    "overfitting": {"overfitting", "loss-collapse"},
    "lr-misconfig": {"lr-schedule", "lr-out-of-range"},
    "logits-metric-artifact": {"logits-metric-artifact"},
    "kl-high-at-start": {"kl-high-at-start"},
    "truncation": {"truncation"},
    "entropy-collapse": {"entropy-collapse"},
    "reward-hacking": {"reward-hacking"},
    "reward-anomaly": {"reward-anomaly"},
    "fp16-overflow": {"fp16-overflow"},
}
FINE = {"healthy", "expected-behaviour"}
# the class a leading finding's symptom stands for, for the confusion table
CLASS_OF_SYMPTOM = {
    "nan-inf": "nan", "loss-divergence": "divergence", "loss-spike": "divergence", "grad-explosion": "divergence",
    "flat-loss": "flat-loss", "no-gradient": "flat-loss", "lr-schedule": "lr-misconfig",
    "lr-out-of-range": "lr-misconfig", "loss-collapse": "loss-collapse", "overfitting": "overfitting",
    "logits-metric-artifact": "logits-metric-artifact", "kl-high-at-start": "kl-high-at-start",
    "truncation": "truncation", "entropy-collapse": "entropy-collapse", "reward-hacking": "reward-hacking",
    "reward-anomaly": "reward-anomaly", "fp16-overflow": "fp16-overflow",
}
RANK = {"info": 0, "warning": 1, "error": 2}


@dataclass
class Item:
    path: str  # as labelled
    target: Path  # what is analysed (a file, or a run folder)
    label: str
    secondary: list[str]
    confidence: str
    tuned: bool  # the rules were changed after looking at this item
    findings: list[dict] = field(default_factory=list)
    explained: bool = False  # the report says something under "Not a problem"
    status: str = ""
    problem: str = ""  # no verdict (could not analyse)


def load_items(folder: Path, default_tuned: bool) -> list[Item]:
    import yaml

    data = yaml.safe_load((folder / "labels.yaml").read_text(encoding="utf-8")) or {}
    items, seen = [], set()
    for it in data.get("items") or []:
        rel = str(it["path"])
        parts = Path(rel).parts
        if parts[0] == "runs" and len(parts) >= 3:  # a run folder, labelled through one of its files
            if parts[-1] != "trainer_log.jsonl" and not parts[-1].endswith((".log", ".csv")):
                continue  # its config file: the folder is scored once, under its log's label (a W&B run
                # folder is labelled through its files/output.log)
            target = folder / parts[0] / parts[1]
        else:
            target = folder / rel
        if target in seen or not target.exists():
            continue
        seen.add(target)
        items.append(Item(rel, target, str(it["label"]), [str(x) for x in it.get("secondary_labels") or []],
                          str(it.get("confidence") or ""), bool(it.get("tuned", default_tuned))))
    return items


def analyse(items: list[Item]) -> None:
    from kto_doctor import InputError
    from kto_doctor.analysis import analyze, load_rules

    rules = load_rules()
    for it in items:
        try:
            report = analyze(str(it.target), rules=rules)
        except InputError as e:
            # the message names the file by its absolute path; the doc must not depend on the checkout
            it.problem = str(e).splitlines()[0].replace(str(it.target), it.path)[:160]
            continue
        it.findings = [{"rule": f.rule, "symptom": f.symptom, "severity": f.severity} for f in report.findings]
        it.explained = any(d.kind == "explanation" for d in report.diagnosis)
        it.status = report.status


def strong(it: Item, floor: int = 1) -> list[dict]:
    return [f for f in it.findings if RANK[f["severity"]] >= floor]


def lenient(it: Item) -> bool:
    if it.problem:
        return False
    if it.label in FINE:
        return not any(f["severity"] == "error" for f in it.findings)
    if it.label not in ACCEPT:  # "other"
        return bool(strong(it))
    floor = 0 if it.label == "logits-metric-artifact" else 1
    ok = any(f["symptom"] in ACCEPT[it.label] for f in strong(it, floor))
    if it.label == "logits-metric-artifact":
        ok = ok and not any(f["symptom"] == "exploding-logits" for f in it.findings)
    return ok


def strict(it: Item) -> bool:
    if it.problem:
        return False
    if it.label == "healthy":
        return not strong(it)
    if it.label == "expected-behaviour":
        return not strong(it) and it.explained
    if it.label not in ACCEPT:
        return bool(strong(it))
    floor = 0 if it.label == "logits-metric-artifact" else 1
    lead = strong(it, floor)
    return lenient(it) and bool(lead) and lead[0]["symptom"] in ACCEPT[it.label]


def predicted(it: Item) -> set[str]:
    return {cls for cls, syms in ACCEPT.items() if any(f["symptom"] in syms for f in strong(it))}


def leading(it: Item) -> str:
    if it.problem:
        return "(no verdict)"
    lead = strong(it)
    if not lead:
        return "(nothing flagged)"
    return CLASS_OF_SYMPTOM.get(lead[0]["symptom"], "other")


def pct(a: int, b: int) -> str:
    return f"{a}/{b} ({100 * a / b:.0f}%)" if b else "–"


def section(name: str, items: list[Item]) -> str:
    out = [f"<!-- set:{name} -->", f"### {SET_TITLES.get(name, name)}", ""]
    n = len(items)
    tuned = [it for it in items if it.tuned]
    out.append(f"{n} labelled items; the rules were tuned on {len(tuned)} of them"
               + (" (all: in-sample)." if len(tuned) == n else f", {n - len(tuned)} never influenced a rule."))
    out.append("")
    groups = [("all items", items)]
    if tuned and len(tuned) < n:
        groups += [("tuned on", tuned), ("never tuned on", [it for it in items if not it.tuned])]
    confident = [it for it in items if it.confidence != "low"]
    if len(confident) < n:
        groups.append(("confidence high or medium", confident))
    out += ["| items | n | lenient | strict |", "|---|---|---|---|"]
    for title, grp in groups:
        out.append(f"| {title} | {len(grp)} | {pct(sum(map(lenient, grp)), len(grp))} "
                   f"| {pct(sum(map(strict, grp)), len(grp))} |")
    fine = [it for it in items if it.label in FINE]
    err = [it for it in fine if not it.problem and not lenient(it)]
    unread = [it for it in fine if it.problem]
    loud = [it for it in fine if strong(it)]
    out += ["", f"False alarms on the {len(fine)} runs labelled healthy or expected-behaviour: "
            f"{len(err)} with an error finding (the default gate fails), {len(loud)} with a warning or worse; "
            f"{len(unread)} more could not be read at all (exit 2, no verdict)."]
    classes = sorted({it.label for it in items if it.label in ACCEPT} | {c for it in items for c in predicted(it)})
    if classes:
        out += ["", "| class | labelled (primary) | recall | predicted | precision |", "|---|---|---|---|---|"]
        for c in classes:
            primary = [it for it in items if it.label == c]
            hit = [it for it in primary if c in predicted(it)]
            pred = [it for it in items if c in predicted(it)]
            right = [it for it in pred if c == it.label or c in it.secondary]
            out.append(f"| {c} | {len(primary)} | {pct(len(hit), len(primary))} | {len(pred)} "
                       f"| {pct(len(right), len(pred))} |")
    labels = sorted({it.label for it in items})
    cols = sorted({leading(it) for it in items})
    out += ["", "Confusion (rows: primary label; columns: the class of the report's leading reading):", "",
            "| label \\ leads with | " + " | ".join(cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for lab in labels:
        row = [sum(1 for it in items if it.label == lab and leading(it) == c) for c in cols]
        out.append(f"| {lab} | " + " | ".join(str(v) if v else "·" for v in row) + " |")
    out += ["", "<details><summary>Per item</summary>", "",
            "| item | label | tuned on | lenient | strict | findings (warning or worse first) |", "|---|---|---|---|---|---|"]
    for it in sorted(items, key=lambda i: i.path):
        fs = it.problem or ", ".join(f"{f['rule']}:{f['severity'][0]}" for f in it.findings) or "–"
        out.append(f"| `{it.path}` | {it.label} | {'yes' if it.tuned else 'no'} | {'✓' if lenient(it) else '✗'} "
                   f"| {'✓' if strict(it) else '✗'} | {fs} |")
    out += ["", "</details>", f"<!-- /set:{name} -->"]
    return "\n".join(out)


HEADER = """# Accuracy on labelled real logs

Generated by `python scripts/accuracy.py --write`; `tests/test_accuracy.py` re-runs it and fails when this page
differs from what the code produces (the shared-corpus section is checked only where `../shared` is present).
Do not edit by hand.

**How to read it.** Every item is a log somebody else published, labelled by hand from its numbers (label,
secondary labels, confidence). *In-sample* means the rules were written or tuned while looking at the item: its
score says the rules do what they were made to do, not how they generalise. The shared corpus is entirely
in-sample. The dev set's items are marked one by one (`tuned` in `tests/fixtures/real/labels.yaml`): the rows
"never tuned on" are the fairer figure. A held-out set that nobody on the team has read is scored once, by the
lead, outside this page.

**Before tuning.** The dev set was first scored blind, with the rules of commit bd56407 and before anyone
read its items: lenient 17/35 (49%), strict 15/35 (43%); of the 17 healthy or expected-behaviour runs one had an
error finding and five were not read; 8 files in all were not read (formats the readers did not know yet). The figures below are after the items marked
`tuned` were used to write or change a rule or a reader.

**Scores.** *Lenient*: a labelled problem agrees when a warning-or-worse finding names an accepted symptom, a
healthy or expected-behaviour run when no finding is an error (the default CI gate passes). *Strict*: the label
is what the report leads with: the first warning-or-worse finding for a problem; no warning at all for a healthy
run; no warning and an explanation under "Not a problem" for expected behaviour. Precision counts a predicted
class as right when it is the primary or a secondary label; recall counts primary labels only. The accepted
symptoms of each label are `ACCEPT` in `scripts/accuracy.py`.
"""


def render(sections: dict[str, str]) -> str:
    body = [HEADER]
    for name in BUILTIN_SETS:
        if name in sections:
            body += ["", sections[name]]
    return "\n".join(body) + "\n"


def committed_sections(text: str) -> dict[str, str]:
    out = {}
    for name in BUILTIN_SETS:
        start, end = f"<!-- set:{name} -->", f"<!-- /set:{name} -->"
        if start in text and end in text:
            out[name] = text[text.index(start):text.index(end) + len(end)]
    return out


def score_set(name: str, folder: Path) -> str:
    items = load_items(folder, default_tuned=(name == "corpus"))
    analyse(items)
    return section(name, items)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="regenerate docs/accuracy.md")
    ap.add_argument("--check", action="store_true", help="exit 1 when docs/accuracy.md is out of date")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=DIR", help="score another labelled folder")
    args = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT))
    extra = {}
    for spec in args.set:
        name, _, folder = spec.partition("=")
        if not folder or not (Path(folder) / "labels.yaml").is_file():
            print(f"accuracy: --set {spec}: expected NAME=DIR with DIR/labels.yaml", file=sys.stderr)
            return 2
        extra[name] = Path(folder)
    if extra:
        for name, folder in extra.items():
            print(score_set(name, folder))
        return 0
    old = committed_sections(DOC.read_text(encoding="utf-8")) if DOC.exists() else {}
    sections = dict(old)
    for name, folder in BUILTIN_SETS.items():
        if (folder / "labels.yaml").is_file():
            sections[name] = score_set(name, folder)
    text = render(sections)
    if args.check:
        if not DOC.exists() or DOC.read_text(encoding="utf-8") != text:
            print("docs/accuracy.md is out of date: run python scripts/accuracy.py --write", file=sys.stderr)
            return 1
        print("docs/accuracy.md is up to date")
        return 0
    if args.write:
        DOC.write_text(text, encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}")
        return 0
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
