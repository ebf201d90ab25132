"""`KtoDoctorCallback`: kto-doctor's rules inside a running Hugging Face `Trainer` (and so TRL, LLaMA-Factory,
axolotl, which train through it).

    from kto_doctor.integrations.transformers import KtoDoctorCallback
    trainer = Trainer(..., callbacks=[KtoDoctorCallback(stop_on="error")])

On each `on_log` the logged row joins an in-memory run and the same rules as `kto-doctor analyze` are
evaluated on the rows so far (incrementally, see `kto_doctor.live`); each new finding is logged once through
the Trainer's logger. With `stop_on="error"` (the default; "warning" or None too) a finding at or above that
severity sets `control.should_training_stop`, and the report is written next to the checkpoints:
`{output_dir}/kto-doctor-report.json` and `.txt`. At the end of training the report is written whenever
there is a finding. The configuration the rules need (learning rate, warm-up, scheduler, batch sizes,
max_steps, the model's vocab_size) comes from the TrainingArguments and the model's config.

This module imports transformers; `import kto_doctor` does not (install `kto-doctor[callback]`).
"""
from __future__ import annotations

import math
from pathlib import Path

from transformers import TrainerCallback
from transformers.utils import logging as hf_logging

from ..live.columns import LiveSource
from ..live.monitor import Monitor
from ..model import SEVERITY_RANK
from ..sources.base import SourceData

logger = hf_logging.get_logger("transformers.trainer")

REPORT_NAME = "kto-doctor-report"


class KtoDoctorCallback(TrainerCallback):
    """Evaluate kto-doctor's rules at every log; stop training on a finding at or above `stop_on`.

    rules: extra rule files or folders (as `--rules`); select / ignore: as `--select` / `--ignore`;
    overrides: configuration values no argument states (as `--set`, e.g. {"vocab_size": 152064});
    report_dir: where the report goes (default: args.output_dir).
    """

    def __init__(self, stop_on: str | None = "error", *, rules=(), select=None, ignore=None, overrides=None,
                 report_dir=None):
        if stop_on not in (None, "never", "info", "warning", "error"):
            raise ValueError(f"stop_on must be 'error', 'warning', 'info' or None, not {stop_on!r}")
        self.stop_on = None if stop_on == "never" else stop_on
        self.rules, self.select, self.ignore, self.overrides = list(rules), select, ignore, overrides
        self.report_dir = report_dir
        self.monitor: Monitor | None = None
        self.source: LiveSource | None = None
        self.stopped_by = None   # the finding that stopped training, if any
        self.findings = []       # every finding logged so far, in order
        self.report_paths: list[Path] = []

    # -- set-up ---------------------------------------------------------------------------------------
    def _start(self, args, state, model=None):
        from ..analysis import load_rules

        out = self.report_dir or getattr(args, "output_dir", None) or "."
        self.monitor = Monitor(str(out), load_rules(self.rules), select=self.select, ignore=self.ignore,
                               overrides=self.overrides)
        self.source = LiveSource(Path(out) / "trainer_state.json", "trainer_state",
                                 hints={"framework": "transformers"})
        facts = {"max_steps": getattr(state, "max_steps", None), "logging_steps": getattr(args, "logging_steps", None),
                 "world_size": getattr(args, "world_size", None)}
        self.source.facts = {k: v for k, v in facts.items() if _number(v) and v > 0}
        self.monitor.sources.append(self.source)
        training = _scalars(args.to_dict() if hasattr(args, "to_dict") else vars(args))
        self.monitor.static.append(SourceData(path=Path(out) / "training_args.json", format="config",
                                              config=training, records=len(training),
                                              hints={"config_kind": "training"}))
        mcfg = getattr(model, "config", None)
        if mcfg is not None and hasattr(mcfg, "to_dict"):
            raw = _scalars(mcfg.to_dict())
            self.monitor.static.append(SourceData(path=Path(out) / "config.json", format="config", config=raw,
                                                  records=len(raw), hints={"config_kind": "model_config"}))

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._start(args, state, model)

    # -- every log ------------------------------------------------------------------------------------
    def on_log(self, args, state, control, logs=None, model=None, **kwargs):
        if self.monitor is None:
            self._start(args, state, model)
        if not logs:
            return
        self.source.add(dict(logs), state.global_step)
        poll = self.monitor.poll()
        for f in poll.new:
            self.findings.append(f)
            log = logger.warning if SEVERITY_RANK[f.severity] >= SEVERITY_RANK["warning"] else logger.info
            log("kto-doctor: %s %s %s at step %s: %s", f.severity, f.rule, f.name,
                f.steps[0] if f.steps else state.global_step, f.title)
        if self.stop_on and self.stopped_by is None:
            threshold = SEVERITY_RANK[self.stop_on]
            worst = [f for f in poll.new if SEVERITY_RANK[f.severity] >= threshold]
            if worst:
                self.stopped_by = worst[0]
                control.should_training_stop = True
                logger.warning("kto-doctor: stopping training at step %s (%s %s, stop_on=%r)",
                               state.global_step, worst[0].rule, worst[0].name, self.stop_on)
                self._write(state, poll.report)

    def on_train_end(self, args, state, control, **kwargs):
        if self.monitor is None or not len(self.source):
            return
        poll = self.monitor.poll(final=True)
        if poll.report is not None and (poll.report.findings or self.stopped_by is not None):
            self._write(state, poll.report)

    # -- the report -----------------------------------------------------------------------------------
    def _write(self, state, report):
        if report is None or not getattr(state, "is_world_process_zero", True):
            return
        from ..reports import RenderOptions, render

        out = Path(self.monitor.path)
        try:
            out.mkdir(parents=True, exist_ok=True)
            paths = []
            for fmt, ext in (("json", ".json"), ("text", ".txt")):
                p = out / (REPORT_NAME + ext)
                p.write_text(render(fmt, report, RenderOptions(color=False)), encoding="utf-8")
                paths.append(p)
            self.report_paths = paths
            logger.warning("kto-doctor: report written to %s", paths[0])
        except OSError as e:  # a full disk must not take the training down
            logger.warning("kto-doctor: could not write the report to %s: %s", out, e)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scalars(d: dict) -> dict:
    return {k: v for k, v in d.items() if isinstance(v, (int, float, str, bool)) and not (
        isinstance(v, float) and not math.isfinite(v))}
