"""Build hook: put the built-in rules in compiled form into the wheel (kto_doctor/engine/compiled.py says why).

A wheel gets `kto_doctor/_builtin_rules.compiled.json`, compiled here from `rules/`. An editable install gets
the same file beside the sources (git-ignored); once a rule file or the engine changes, its fingerprint no
longer matches and kto-doctor compiles the YAML at each start (same results, slower) until the next install or
`python -m kto_doctor.engine.compiled` rebuilds it, so a stale file is never used.
"""
from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class CompiledRulesHook(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict) -> None:
        if self.target_name != "wheel":
            return
        root = Path(self.root)
        if version == "editable":
            try:
                compiled = _import_compiled(root)
                compiled.write(root / "kto_doctor" / compiled.FILENAME, root / "rules")
            except Exception as exc:  # a development install still works, it compiles the YAML at each start
                self.app.display_warning(f"built-in rules not compiled ({exc}); kto-doctor will compile them "
                                         "at each start")
            return
        compiled = _import_compiled(root)
        self._tmp = tempfile.mkdtemp(prefix="kto-doctor-rules-")
        target = compiled.write(Path(self._tmp) / compiled.FILENAME, root / "rules")
        build_data["force_include"][str(target)] = f"kto_doctor/{compiled.FILENAME}"

    def finalize(self, version: str, build_data: dict, artifact_path: str) -> None:
        tmp = getattr(self, "_tmp", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def _import_compiled(root: Path):
    """kto_doctor.engine.compiled from the tree being built (it needs PyYAML, not numpy or pandas)."""
    sys.path.insert(0, str(root))
    try:
        for name in [m for m in sys.modules if m == "kto_doctor" or m.startswith("kto_doctor.")]:
            del sys.modules[name]
        from kto_doctor.engine import compiled

        return compiled
    finally:
        sys.path.remove(str(root))
