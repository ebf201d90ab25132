"""Which format goes to which -o file: by extension where it is unambiguous, never silently swapped."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.cli.outputs import UsageError, plan_outputs
from kto_doctor.reports import FORMATS

from conftest import SAMPLES

runner = CliRunner()


def test_options_in_either_order_pair_by_extension():
    assert plan_outputs(["sarif", "json"], ["r.json", "r.sarif"], FORMATS) == [("json", "r.json"),
                                                                                ("sarif", "r.sarif")]
    assert plan_outputs(["text", "sarif"], ["r.sarif"], FORMATS) == [("sarif", "r.sarif"), ("text", None)]
    assert plan_outputs([], ["r.xml"], FORMATS) == [("junit", "r.xml")]
    assert plan_outputs([], [], FORMATS) == [("text", None)]


def test_files_without_a_format_extension_take_the_remaining_formats_in_order():
    assert plan_outputs(["github", "sarif"], ["a.sarif", "a.gh"], FORMATS) == [("sarif", "a.sarif"),
                                                                                ("github", "a.gh")]
    assert plan_outputs(["json", "junit"], ["a.out", "b.out"], FORMATS) == [("json", "a.out"), ("junit", "b.out")]
    assert plan_outputs(["json"], ["report.txt"], FORMATS) == [("json", "report.txt")]  # .txt is weak


@pytest.mark.parametrize("formats,outputs,needle", [
    (["sarif"], ["r.json"], "names the json format"),
    (["sarif", "junit"], ["r.json", "r.xml"], "names the json format"),
    (["text", "json"], ["report"], "cannot tell which format"),
    ([], ["report.gh"], "cannot tell which format"),
    (["json", "sarif"], [], "only one format can go to the terminal"),
    (["yaml"], [], "unknown format"),
])
def test_contradictions_and_ambiguities_are_refused(formats, outputs, needle):
    with pytest.raises(UsageError, match=needle):
        plan_outputs(formats, outputs, FORMATS)


def test_cli_writes_each_format_to_the_file_its_extension_names(tmp_path):
    rj, rs = tmp_path / "r.json", tmp_path / "r.sarif"
    r = runner.invoke(app, ["analyze", str(SAMPLES / "kto-healthy"), "--format", "sarif", "--format", "json",
                            "-o", str(rj), "-o", str(rs)])
    assert r.exit_code == 0, r.output
    assert json.loads(rj.read_text())["schema_version"] == 1
    assert json.loads(rs.read_text())["version"] == "2.1.0"


def test_cli_refuses_a_contradiction_with_exit_2(tmp_path):
    r = runner.invoke(app, ["analyze", str(SAMPLES / "kto-healthy"), "--format", "junit", "-o",
                            str(tmp_path / "r.json")])
    assert r.exit_code == 2
    assert "names the json format" in r.stderr and "Traceback" not in r.output
    assert not (tmp_path / "r.json").exists()
    ok = runner.invoke(app, ["analyze", str(SAMPLES / "kto-healthy"), "-f", "junit", "-o", str(tmp_path / "r.xml")])
    assert ok.exit_code == 0 and ET.fromstring((tmp_path / "r.xml").read_text()).tag == "testsuites"
