"""What machines read: the JSON report validates against the shipped schema, JUnit fits the Jenkins XSD's
root, the HTML sweep is one page, and chart labels do not sit on each other."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import jsonschema
import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.reports import svg

from ci_runs import rows, write_state
from conftest import SAMPLES

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def schema():
    r = run("schema", "report")
    assert r.exit_code == 0
    doc = json.loads(r.stdout)
    jsonschema.Draft202012Validator.check_schema(doc)
    return doc


def test_every_sample_report_validates(schema):
    r = run("scan", SAMPLES, "-f", "json", "-j", "1")
    doc = json.loads(r.stdout)
    jsonschema.validate(doc, schema)
    for one in doc[:3]:
        single = json.loads(run("analyze", one["run"]["path"], "-f", "json").stdout)
        jsonschema.validate(single, schema)


def test_error_entries_and_unknown_steps_validate_and_say_null(schema, tmp_path):
    root = tmp_path / "s"
    write_state(root / "good", rows(20))
    (root / "nostep").mkdir()
    (root / "nostep" / "trainer_state.json").write_text(json.dumps(
        {"log_history": [{"loss": 1.0 - i / 100, "learning_rate": 1e-5} for i in range(20)]}))
    (root / "bad").mkdir()
    (root / "bad" / "trainer_state.json").write_text("{ not json")
    doc = json.loads(run("scan", root, "-f", "json", "-j", "1").stdout)
    jsonschema.validate(doc, schema)
    by = {d["run"]["path"].rsplit("/", 1)[-1]: d for d in doc}
    assert by["bad"]["status"] == "error" and by["good"]["status"] == "healthy"
    assert by["nostep"]["status"] == "error"  # nothing with a step was read: an error, never steps 0


def test_a_report_without_steps_says_null_and_validates(schema):
    import pandas as pd

    from kto_doctor.model import Report, Run

    run_ = Run(path="x", metrics=pd.DataFrame(index=pd.Index([], dtype="int64")), config={})
    doc = Report(run=run_, findings=[], diagnosis=[], skipped=[]).to_dict()
    assert doc["run"]["steps"] == {"first": None, "last": None, "logged": 0}
    jsonschema.validate(doc, schema)


def test_schema_rejects_a_broken_report(schema):
    good = json.loads(run("analyze", SAMPLES / "kto-healthy", "-f", "json").stdout)
    bad = dict(good, status="fine")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(good))
    bad["run"]["steps"]["first"] = "1"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_junit_root_has_no_skipped_attribute(tmp_path):
    out = tmp_path / "r.xml"
    run("analyze", SAMPLES / "kto-flagship", "-f", "junit", "-o", out)
    root = ET.fromstring(out.read_text())
    assert root.tag == "testsuites" and "skipped" not in root.attrib
    assert int(root.get("tests")) > 0
    assert all("skipped" in s.attrib for s in root.findall("testsuite"))


class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.links, self.tables, self.docs = set(), [], 0, 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            assert a["id"] not in self.ids, f"duplicate id {a['id']}"
            self.ids.add(a["id"])
        if tag == "a" and a.get("href", "").startswith("#"):
            self.links.append(a["href"][1:])
        if tag == "table" and "sweep" in a.get("class", ""):
            self.tables += 1

    def handle_decl(self, decl):
        self.docs += 1


def test_scan_html_is_one_page_with_a_row_and_a_section_per_run(tmp_path):
    root = tmp_path / "s"
    write_state(root / "fine", rows(30))
    write_state(root / "nan", rows(30, nan_at=(10, 11)))
    (root / "bad").mkdir()
    (root / "bad" / "trainer_state.json").write_text("[]")
    out = tmp_path / "sweep.html"
    r = run("scan", root, "-j", "1", "-f", "html", "-o", out)
    assert r.exit_code == 1, r.output
    html = out.read_text()
    page = _Page()
    page.feed(html)
    assert page.docs == 1 and html.count("<html") == 1
    assert page.tables == 1
    assert {"run-0", "run-1"} <= page.ids
    assert all(link in page.ids for link in page.links)  # every link lands somewhere
    body = html.split("<tbody>")[1].split("</tbody>")[0]
    assert body.count("<tr>") == 3 and "error" in body
    assert 'href="#run-1-finding-' in html


def _labels(html: str):
    for pic in re.findall(r"<svg.*?</svg>", html, re.S):
        labs = [(float(x), float(y), a, t) for x, y, a, t in re.findall(
            r'<text class="reflabel" x="([-\d.]+)" y="([-\d.]+)" text-anchor="(\w+)">([^<]*)</text>', pic)]
        yield labs


@pytest.mark.parametrize("sample", ["kto-flagship", "lf-kto-warmup-too-long"])
def test_html_chart_labels_do_not_overlap(sample, tmp_path):
    out = tmp_path / "r.html"
    run("analyze", SAMPLES / sample, "-f", "html", "-o", out)
    html = out.read_text()
    seen = 0
    for labs in _labels(html):
        boxes = [svg._label_box(x, y, a, t.replace("&gt;", ">").replace("&lt;", "<").replace("&amp;", "&"))
                 for x, y, a, t in labs]
        seen += len(boxes)
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                assert not svg._overlaps(boxes[i], boxes[j]), (labs[i], labs[j])
    assert seen >= 2
