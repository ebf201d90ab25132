"""kto-doctor: diagnose failed LLM fine-tuning runs from the logs they left behind.

Python API::

    import kto_doctor
    run = kto_doctor.load_run("saves/qwen-kto")      # Run: run.metrics (DataFrame by step), run.config
    report = kto_doctor.analyze("saves/qwen-kto")    # Report: report.to_dict() is the JSON report

Heavy modules (pandas, numpy) load on first use so that `kto-doctor --help` stays fast.
"""
from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "load_run", "analyze", "InputError"]


class InputError(Exception):
    """The input cannot be analysed (exit code 2): no readable log, bad config or rule file, bad usage."""


def load_run(path, overrides=None, metric_map=None, run_key=None, method=None):
    """Read every log kto-doctor understands under `path` (a folder, a file or a URL) into one `Run`."""
    from . import remote
    from .run import load_run as _load

    load = remote.load_run if remote.is_remote(path) else _load
    return load(path, overrides=overrides, metric_map=metric_map, run_key=run_key, method=method)


def analyze(path, *, rules=None, select=None, ignore=None, overrides=None, metric_map=None, run_key=None,
            method=None):
    """Load the run at `path`, evaluate the rules and return the `Report`."""
    from .analysis import analyze as _analyze

    return _analyze(path, rules=rules, select=select, ignore=ignore, overrides=overrides, metric_map=metric_map,
                    run_key=run_key, method=method)
