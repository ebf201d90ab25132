"""Sources are plugins: the built-in ones come through the same entry-point group a third party uses."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from importlib.metadata import entry_points
from pathlib import Path

from kto_doctor.sources import registry as regmod


def test_builtin_sources_are_registered_as_entry_points():
    # pyproject.toml and the uninstalled-tree fallback list the same sources
    installed = {ep.name: ep.value for ep in entry_points(group=regmod.ENTRY_POINT_GROUP)}
    builtin = dict((x.strip() for x in line.split("=", 1)) for line in regmod.BUILTIN)
    assert {k: v for k, v in installed.items() if v.startswith("kto_doctor.")} == builtin
    assert not regmod.registry().problems


PLUGIN = '''
"""A third party's source: `step=N ours=X` lines of a trainer kto-doctor has never heard of."""
import re
import numpy as np
from kto_doctor.sources.base import Series, SourceData, SourceError, read_bytes
from kto_doctor.sources.registry import Source, score

LINE = re.compile(r"^step=(\\d+) ours=([-\\d.e+naif]+)$", re.M)

def read(path):
    rows = LINE.findall(read_bytes(path).decode())
    if not rows:
        raise SourceError(f"{path}: no step= lines")
    src = SourceData(path=path, format="acme", records=len(rows), hints={"framework": "acme"})
    src.series["loss"] = Series(steps=np.array([float(s) for s, _ in rows]),
                                values=np.array([float(v) for _, v in rows]))
    return src

SOURCE = Source(name="acme", title="ACME trainer logs", read=read, priority=25,
                sniff=lambda head: score(len(LINE.findall(head))), suffixes=(".acme", ".log"))
'''


def _install_plugin(site: Path) -> None:
    """What `pip install acme-kto-source` leaves behind: a module and a dist-info with the entry point."""
    (site / "acme_kto_source.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "acme_kto_source-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-kto-source\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kto_doctor.sources]\nacme = acme_kto_source:SOURCE\n")


def _kto(site: Path, *args) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin", "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "kto_doctor", *map(str, args)], capture_output=True, text=True,
                          env=env, timeout=120)


def test_an_installed_third_party_source_reads_its_format(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    _install_plugin(site)
    listed = _kto(site, "formats", "--json")
    assert listed.returncode == 0, listed.stderr
    names = [f["name"] for f in json.loads(listed.stdout)["formats"]]
    assert "acme" in names and "trainer_state" in names
    log = tmp_path / "run" / "train.acme"
    log.parent.mkdir()
    log.write_text("".join(f"step={s} ours={v}\n" for s, v in [(1, 2.0), (2, "nan"), (3, "nan"), (4, "nan")]))
    r = _kto(site, "analyze", log.parent, "--format", "json")
    report = json.loads(r.stdout)
    assert report["run"]["sources"][0]["format"] == "acme" and report["run"]["framework"] == "acme"
    assert any(f["symptom"] == "nan-inf" for f in report["findings"]) and r.returncode == 1


def test_a_broken_plugin_is_reported_and_the_others_still_work(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    info = site / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[kto_doctor.sources]\nbroken = no_such_module:SOURCE\n")
    r = _kto(site, "formats")
    assert r.returncode == 0 and "source plugin 'broken'" in r.stderr and "trainer_state" in r.stdout
    state = tmp_path / "trainer_state.json"
    state.write_text(json.dumps({"log_history": [{"step": s, "loss": 1.0} for s in range(1, 5)]}))
    assert _kto(site, "analyze", state).returncode == 0
