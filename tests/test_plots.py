"""Terminal pictures: sparkline shape, window marking, NaN marks, log scale, NO_COLOR / TERM=dumb, CLI."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from kto_doctor.cli import app
from kto_doctor.reports import RenderOptions, chartdata, plots, render

FLAGSHIP = Path(__file__).resolve().parents[1] / "sample_logs" / "kto-flagship"
needs_flagship = pytest.mark.skipif(not FLAGSHIP.is_dir(), reason="sample_logs/kto-flagship not present")
BLOCKS = set(plots.BLOCKS)
ANSI = re.compile(r"\x1b\[")


def test_sparkline_length_and_short_series():
    x = np.arange(1000.0)
    chars, mask = plots.spark(x, np.sin(x / 50), width=48)
    assert len(chars) == 48 and len(mask) == 48
    assert set(chars) <= BLOCKS and {plots.BLOCKS[0], plots.BLOCKS[-1]} <= set(chars)
    chars, _ = plots.spark(np.arange(5.0), np.arange(5.0), width=48)  # fewer rows than columns
    assert chars == "▁▃▅▆█"


def test_window_marks_exactly_its_columns():
    x = np.arange(100.0)
    _, mask = plots.spark(x, x, width=50, window=[50, 59])
    assert [i for i, m in enumerate(mask) if m] == [25, 26, 27, 28, 29]
    _, mask = plots.spark(x, x, width=50, window=[99, 99])
    assert [i for i, m in enumerate(mask) if m] == [49]


def test_nan_and_inf_are_marked_and_a_spike_survives_resampling():
    x = np.arange(1000.0)
    y = np.full(1000, 1.0)
    y[500] = np.nan
    y[900] = np.inf
    y[200] = 5.0  # one spike among 20 rows per column
    chars, _ = plots.spark(x, y, width=50)
    assert chars[25] == "×" and chars[45] == "↑" and chars[10] == "█"
    assert chars.count("×") == 1 and chars.count("█") == 1
    ascii, _ = plots.spark(x, y, width=50, ascii=True)
    assert ascii[25] == "x" and all(ord(c) < 128 for c in ascii)


def test_log_scale_when_values_span_decades():
    x = np.arange(100.0)
    y = 1e-10 * 10 ** (x / 25)  # four decades
    assert chartdata.choose_scale(y).kind == "log"
    chars, _ = plots.spark(x, y, width=8)
    assert chars == "▁▂▃▄▅▆▇█"  # evenly spread on a log axis; linear would sit on the floor until the end
    assert chartdata.choose_scale(-y).kind == "neglog"
    assert chartdata.choose_scale(np.r_[-2e8, 0.5, 1.0, 3.0, -1.0]).kind == "symlog"
    assert chartdata.choose_scale(np.r_[0.5, 0.6, 0.7]).kind == "linear"


@needs_flagship
def test_text_report_has_a_sparkline_under_each_finding():
    res = CliRunner().invoke(app, ["analyze", str(FLAGSHIP), "--format", "text", "--color", "never"])
    assert res.exit_code in (0, 1), res.output
    blocks = res.output.split("\n\n")
    findings = [b for b in blocks if re.match(r"[✖▲●] (error|warning|info)", b.strip())]
    assert len(findings) >= 4
    for b in findings:
        lines = b.splitlines()
        spark_lines = [ln for ln in lines if sum(c in BLOCKS for c in ln) >= 24]
        assert spark_lines, b
        assert any("first " in ln and "last " in ln for ln in spark_lines)
        assert any(ln.strip().startswith("^") and "worst " in ln for ln in lines), b
    assert not ANSI.search(res.output)


@needs_flagship
def test_colour_only_when_asked_and_ascii_on_a_dumb_terminal(monkeypatch):
    from kto_doctor.analysis import analyze

    report = analyze(str(FLAGSHIP))
    f = report.findings[0]
    assert ANSI.search(render("text", report, RenderOptions(color=True)))
    monkeypatch.setenv("NO_COLOR", "1")
    spans = plots.finding_sparkline(report.run, f, RenderOptions(color=True)).spans
    assert not [s for s in spans if s.style]
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("TERM", "dumb")
    text = plots.finding_sparkline(report.run, f, RenderOptions()).plain
    assert all(ord(c) < 128 for c in text.replace("·", "")), text
    assert set("_.-~^") & set(text)
    monkeypatch.setenv("TERM", "xterm-256color")
    assert set(plots.BLOCKS) & set(plots.finding_sparkline(report.run, f, RenderOptions()).plain)


def test_big_chart_axes_markers_and_nan_row():
    x = np.arange(1.0, 201.0)
    y = np.linspace(1.0, 0.5, 200)
    y[100] = np.nan
    out = plots.chart(x, y, title="loss", width=60, height=10, window=[150, 200],
                      hlines={"predicted_loss": 0.58}, vlines={"warmup_end": 4739}).plain
    lines = out.splitlines()
    assert sum(1 for ln in lines if "┤" in ln or "│" in ln) >= 10
    assert any(ln.lstrip().startswith("step") and "200" in ln for ln in lines)
    nan_line = next(ln for ln in lines if ln.lstrip().startswith("NaN"))
    assert "×" in nan_line
    win = next(ln for ln in lines if ln.lstrip().startswith("window"))
    assert win.index("^") - len("window  ") == 44 and win.count("^") == 16  # column 44 holds step 150 (1 + 44 * 199/60 = 146.9)
    assert "predicted loss 0.58" in out and "warmup end step 4,739 (off chart)" in out


@needs_flagship
def test_plot_command(monkeypatch):
    runner = CliRunner()
    res = runner.invoke(app, ["plot", str(FLAGSHIP), "loss", "logits/*", "--ascii", "--width", "50", "--color", "never"])
    assert res.exit_code == 0, res.output
    assert "loss" in res.output and "logits/chosen" in res.output and "logits/rejected" in res.output
    assert "*" in res.output and all(ord(c) < 128 for c in res.output)
    res = runner.invoke(app, ["plot", str(FLAGSHIP), "no_such_metric"])
    assert res.exit_code == 2 and "not logged" in res.output
    res = runner.invoke(app, ["plot", str(FLAGSHIP)])
    assert res.exit_code == 0 and "learning_rate" in res.output
