"""A cache of the compiled built-in rules, so every run does not re-parse and re-check ~50 YAML files.

Keyed by the kto-doctor version and the path, size and mtime of every rule file; stored under
$XDG_CACHE_HOME/kto-doctor (else ~/.cache/kto-doctor). The cache holds only what kto-doctor itself compiled
from its own rule files; any problem reading or writing it (read-only home, a stale or foreign file) falls
back to compiling, silently. KTO_DOCTOR_NO_CACHE=1 turns it off.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from .. import __version__


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "kto-doctor"


def _key(files: list[Path]) -> str:
    h = hashlib.sha256(__version__.encode())
    for f in sorted(files):
        st = f.stat()
        h.update(f"{f}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()[:32]


def load_cached(files: list[Path], compile_fn):
    """compile_fn() -> RuleSet, or the cached RuleSet compiled from exactly these files."""
    if os.environ.get("KTO_DOCTOR_NO_CACHE"):
        return compile_fn()
    try:
        path = _cache_dir() / f"rules-{_key(files)}.pickle"
    except OSError:
        return compile_fn()
    try:
        with open(path, "rb") as f:
            return pickle.load(f)
    except Exception:  # missing, stale, truncated or unreadable: compile instead
        pass
    ruleset = compile_fn()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".rules-")
        with os.fdopen(fd, "wb") as f:
            pickle.dump(ruleset, f, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)  # atomic: parallel scans never read half a file
    except Exception:
        pass
    return ruleset
