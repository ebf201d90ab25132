"""The one-file HTML report: structure, markers, no external resources, escaping, size; and a real browser."""
from __future__ import annotations

import json
import math
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app

FLAGSHIP = Path(__file__).resolve().parents[1] / "sample_logs" / "kto-flagship"
CHROMIUM = Path("/usr/bin/chromium")
EXTERNAL = re.compile(r"""(?:\b(?:src|href|xlink:href)\s*=\s*["']?\s*(?:[a-z][a-z0-9+.-]*:)?//|url\(\s*["']?\s*(?:https?:)?//|@import)""", re.I)


def kto_state(path: Path, rows: int = 204, nan_at=()) -> Path:
    """A trainer_state.json shaped like the flagship KTO run (flat loss, long warm-up, summed logits)."""
    hist = []
    for s in range(1, rows + 1):
        loss = float("nan") if s in nan_at else 0.58 + 0.05 * math.sin(s)
        hist.append({"step": s, "epoch": s / 47390, "loss": loss, "grad_norm": 0.16, "learning_rate": 1e-6 * s / 4739,
                     "rewards/chosen": 1e-5 * s, "rewards/rejected": 0.0, "rewards/margins": 1e-5 * s, "kl": 11.3,
                     "logps/chosen": -1.8, "logps/rejected": -10.9, "logits/chosen": -2.03e8, "logits/rejected": -2.13e8})
    path.mkdir(parents=True, exist_ok=True)
    (path / "trainer_state.json").write_text(json.dumps({"global_step": rows, "max_steps": 47390, "logging_steps": 1,
                                                         "log_history": hist}))
    return path


@pytest.fixture(scope="module")
def flagship(tmp_path_factory):
    run = FLAGSHIP if FLAGSHIP.is_dir() else kto_state(tmp_path_factory.mktemp("kto") / "run")
    out = tmp_path_factory.mktemp("html") / "report.html"
    res = CliRunner().invoke(app, ["analyze", str(run), "--format", "html", "-o", str(out)])
    assert res.exit_code == 0, res.output  # warnings and info only
    from kto_doctor.analysis import analyze

    return out, out.read_text(encoding="utf-8"), analyze(str(run))


def articles(html: str) -> dict[str, str]:
    return {m.group(1): m.group(0) for m in re.finditer(r'<article [^>]*id="finding-([^"]+)".*?</article>', html, re.S)}


def test_one_chart_per_finding_with_its_metrics(flagship):
    _, html, report = flagship
    arts = articles(html)
    assert list(arts) == [f.rule for f in report.findings]
    for f in report.findings:
        art = arts[f.rule]
        assert art.count('class="chart finding-chart"') == 1 and art.count("<svg") == 1
        logged = [m for m in f.metrics if report.run.series(m) is not None]
        assert re.findall(r'<g class="panel" data-metric="([^"]+)"', art) == logged[:4]
        assert art.count("<polyline") >= len(logged[:4])
        if f.steps:
            assert '<rect class="win"' in art
        for k, v in f.evidence.items():
            assert f"<td>{k}</td>" in art


def test_markers_drawn_beside_their_metric(flagship):
    _, html, report = flagship
    arts = articles(html)
    by_marker = {k: f.rule for f in report.findings for k in f.markers}
    assert {"predicted_loss", "warmup_end", "peak_learning_rate"} <= set(by_marker)
    art = arts[by_marker["predicted_loss"]]
    loss_panel = re.search(r'<g class="panel" data-metric="loss">.*?</g>', art, re.S).group(0)
    assert '<line class="ref"' in loss_panel and "predicted loss 0.56" in loss_panel
    sched = arts[by_marker["warmup_end"]]
    assert "warmup end: step 4,739 →" in sched  # beyond the last logged step: an arrow at the edge
    lr_panel = re.search(r'<g class="panel" data-metric="learning_rate">.*?</g>', sched, re.S).group(0)
    assert "peak learning rate 1e-6" in lr_panel and "(log scale)" in lr_panel


def test_summary_diagnosis_and_overview(flagship):
    _, html, report = flagship
    assert html.index('id="summary"') < html.index('id="diagnosis"') < html.index('id="findings"') \
        < html.index('id="overview"')
    diag = html[html.index('id="diagnosis"'):html.index('id="findings"')]
    for d in report.diagnosis:
        assert d.title.replace("&", "&amp;") in diag
        for fx in d.fixes if d.kind == "problem" else ():
            assert fx.replace("&", "&amp;").replace("'", "&#x27;").replace('"', "&quot;") in diag
    minis = re.findall(r'<figure class="mini" data-metric="([^"]+)">', html)
    assert minis == report.run.metric_names
    assert "prefers-color-scheme:dark" in html and "@media print" in html and 'viewBox="0 0' in html


def test_self_contained(flagship):
    _, html, _ = flagship
    assert not EXTERNAL.search(html)
    assert "://" not in html  # not even the SVG namespace: inline SVG in HTML needs none
    assert "<script" not in html and "<link" not in html and "<img" not in html and "<iframe" not in html
    assert "default-src 'none'" in html  # the browser would refuse any load even if one slipped in


def test_user_text_is_escaped(tmp_path):
    run = kto_state(tmp_path / 'run<img src=x onerror=alert(1)>&"q"')
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["analyze", str(run), "--format", "html", "-o", str(out)])
    assert res.exit_code == 0, res.output  # the same KTO run: warnings only
    html = out.read_text()
    assert "<img" not in html and "run&lt;img src=x onerror=alert(1)&gt;&amp;&quot;q&quot;" in html


def test_long_run_stays_small_and_nan_is_shown(tmp_path):
    rows = 100_000
    run = kto_state(tmp_path / "long", rows=rows, nan_at={40_000, 40_001, 90_000})
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["analyze", str(run), "--format", "html", "-o", str(out)])
    assert res.exit_code == 1, res.output  # a NaN loss is an error
    html = out.read_text()
    assert len(html) < 1_500_000
    for svg in re.findall(r"<svg.*?</svg>", html, re.S):
        assert sum(p.count(",") for p in re.findall(r'points="([^"]*)"', svg)) <= 820
    loss = re.search(r'<figure class="mini" data-metric="loss">.*?</figure>', html, re.S).group(0)
    assert loss.count('class="nan"') == 2 and "3 NaN" in loss  # two pixel columns, three NaN rows
    assert loss.count("<polyline") == 3  # the line breaks at each NaN stretch


# --- a real browser ---------------------------------------------------------------------------------

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0", "--window-size=1280,2400", "--hide-scrollbars"]

LAYOUT_JS = """<script>
document.body.setAttribute('data-layout', JSON.stringify(Array.from(
  document.querySelectorAll('figure.finding-chart svg, figure.mini svg')).map(function (e) {
    var r = e.getBoundingClientRect();
    return [e.closest('figure').getAttribute('data-finding') || e.closest('figure').getAttribute('data-metric'),
            r.left, r.top, r.right, r.bottom]; })));
</script>"""


def chromium(args, tmp_path, name):
    proc = subprocess.run([str(CHROMIUM), *FLAGS, f"--user-data-dir={tmp_path / ('profile-' + name)}", *args],
                          capture_output=True, text=True, timeout=120)
    return proc


@pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium not installed")
def test_browser_renders_charts_without_errors_or_requests(flagship, tmp_path):
    from PIL import Image

    path, html, report = flagship
    png = tmp_path / "shot.png"
    shot = chromium([f"--screenshot={png}", path.as_uri()], tmp_path, "shot")
    assert png.exists() and png.stat().st_size > 10_000, shot.stderr[-2000:]
    console = [ln for ln in shot.stderr.splitlines() if ":CONSOLE" in ln or "Uncaught" in ln]
    assert not console, console  # the page has no script: any console line is a failed load or CSP refusal
    assert not re.search(r"net::ERR_|Refused to", shot.stderr)

    dom = chromium(["--dump-dom", path.as_uri()], tmp_path, "dom")
    assert "<svg" in dom.stdout and not EXTERNAL.search(dom.stdout)

    # Where the charts are: the same page plus a layout probe (CSP off in this copy only), same window.
    probe = tmp_path / "probe.html"
    probe.write_text(re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
                     .replace("</body>", LAYOUT_JS + "</body>"), encoding="utf-8")
    out = chromium(["--dump-dom", probe.as_uri()], tmp_path, "probe").stdout
    boxes = json.loads(re.search(r'data-layout="([^"]*)"', out).group(1).replace("&quot;", '"'))
    assert [b[0] for b in boxes[:len(report.findings)]] == [f.rule for f in report.findings]

    img = Image.open(png).convert("RGB")
    assert img.size == (1280, 2400)
    visible = [[n, l, t, r, min(b, img.size[1])] for n, l, t, r, b in boxes if b - 100 > t and t + 100 < img.size[1]]
    assert len(visible) >= 2, boxes
    for name, left, top, right, bottom in visible:
        assert right - left > 250 and right <= img.size[0], (name, left, top, right, bottom)
        region = img.crop((int(left) + 1, int(top) + 1, int(right) - 1, int(bottom) - 1))
        px = np.asarray(region, dtype=int)
        ink = int(((px.max(axis=2) - px.min(axis=2)) > 60).sum())  # coloured lines, not grey text
        assert ink > 200, (name, ink)  # a drawn series; a blank or failed SVG has next to none
    # and the page is not all chart: the space between the header's text lines is plain background
    header = img.crop((0, 0, 1280, 40))
    assert max(header.getcolors(1 << 16))[1] in ((255, 255, 255), (13, 17, 23))
