"""`--format html`: one self-contained page (inline CSS and SVG, no script, no network).

Top: the run's summary and the ranked diagnosis with fixes. Then each finding with a chart of its metrics
(firing window shaded, its markers drawn: predicted values as dashed rows, steps such as the warm-up end
as dashed columns or an arrow when beyond the run), its evidence numbers; then small multiples of every
logged metric. Light and dark (prefers-color-scheme), phone-sized screens (viewBox SVG, fluid grid) and
print. A Content-Security-Policy forbids any load, so nothing can reach the network even by mistake.
Every string from the run or the rules is escaped.
"""
from __future__ import annotations

from html import escape

CSS = """
:root{--bg:#ffffff;--fg:#1f2328;--muted:#59636e;--card:#f6f8fa;--line:#d0d7de;--plot:#ffffff;
--c0:#0969da;--c1:#bc4c00;--c2:#1a7f37;--c3:#8250df;--win:rgba(212,167,44,.22);--ref:#cf222e;--nan:#cf222e;
--error:#cf222e;--warning:#9a6700;--info:#0969da;--ok:#1a7f37;--grid:#eaeef2}
@media (prefers-color-scheme:dark){:root{--bg:#0d1117;--fg:#e6edf3;--muted:#9198a1;--card:#161b22;
--line:#30363d;--plot:#0d1117;--c0:#4493f8;--c1:#f0883e;--c2:#3fb950;--c3:#ab7df8;--win:rgba(210,153,34,.25);
--ref:#ff7b72;--nan:#ff7b72;--error:#f85149;--warning:#d29922;--info:#4493f8;--ok:#3fb950;--grid:#21262d}}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);font:15px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif}
main{max-width:1100px;margin:0 auto;padding:16px}
h1{font-size:1.5rem;margin:.2em 0}h2{font-size:1.2rem;margin:1.6em 0 .5em;border-bottom:1px solid var(--line)}
h3{font-size:1.05rem;margin:0 0 .3em}
code,.mono{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.9em}
.muted{color:var(--muted)}
.badge{display:inline-block;padding:0 .5em;border-radius:1em;font-weight:600;font-size:.85em;border:1px solid currentColor}
.failing,.sev-error{color:var(--error)}.warning,.sev-warning{color:var(--warning)}.healthy{color:var(--ok)}
.sev-info{color:var(--info)}
a{color:var(--c0)}
dl.summary{display:grid;grid-template-columns:max-content 1fr;gap:.1em 1em;margin:.5em 0}
dl.summary dt{color:var(--muted)}dl.summary dd{margin:0;overflow-wrap:anywhere}
ol.causes>li{margin:.4em 0}ol.causes ul{margin:.2em 0 .6em;padding-left:1.2em}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px;margin:14px 0;
break-inside:avoid}
.finding p{margin:.3em 0}
figure{margin:.6em 0}figcaption{font-size:.85em;color:var(--muted)}
svg.chart{display:block;width:100%;height:auto}
figure.finding-chart svg.chart{max-width:820px}
svg .plot{fill:var(--plot);stroke:var(--line)}svg .grid{stroke:var(--grid);stroke-width:1}
svg .axis{stroke:var(--muted)}svg text{fill:var(--muted);font:11px system-ui,sans-serif}
svg .ptitle{fill:var(--fg);font-weight:600}svg .win{fill:var(--win)}
svg .ref{stroke:var(--ref);stroke-dasharray:5 4;stroke-width:1.3}svg .reflabel{fill:var(--ref);font-weight:600;paint-order:stroke;stroke:var(--plot);stroke-width:3px}
svg .nan,svg .nanlabel{fill:var(--nan);font-weight:700}
svg .band{fill:var(--c2);fill-opacity:.16;stroke:none}svg .refln{stroke:var(--muted);stroke-dasharray:3 3;stroke-width:1.2}
svg polyline{stroke-width:1.4;stroke-linejoin:round}
.ln0{stroke:var(--c0)}.ln1{stroke:var(--c1)}.ln2{stroke:var(--c2)}.ln3{stroke:var(--c3)}
.dot0{fill:var(--c0)}.dot1{fill:var(--c1)}.dot2{fill:var(--c2)}.dot3{fill:var(--c3)}
table.ev{border-collapse:collapse;font-size:.9em;margin:.4em 0}
table.ev td{padding:.1em .8em .1em 0;border-bottom:1px solid var(--line);overflow-wrap:anywhere}
.grid-mini{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:12px}
.grid-mini figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:6px}
footer{margin:2em 0 1em;font-size:.85em;color:var(--muted)}
@media (max-width:600px){main{padding:10px}body{font-size:14px}.grid-mini{grid-template-columns:1fr}}
@media print{:root{--bg:#fff;--fg:#000;--card:#fff;--plot:#fff;--muted:#444}body{font-size:11pt}
main{max-width:none;padding:0}.card,figure{break-inside:avoid}details{display:block}details>*{display:block}
a{color:inherit;text-decoration:none}}
"""

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"


def _page_start(title: str) -> list[str]:
    return ["<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
            '<meta name="viewport" content="width=device-width,initial-scale=1">',
            '<meta name="color-scheme" content="light dark">',
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body><main>"]


def render(report, options) -> str:
    from .. import __version__

    parts = _page_start(f"kto-doctor: {report.run.path}")
    parts += _body(report)
    parts.append(f"<footer><p>kto-doctor {escape(__version__)} · self-contained report, no network</p></footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def render_many(reports, options) -> str:
    """A sweep (`kto-doctor scan --format html`): one page, one table with a row per run (runs that could
    not be read included), each analysed run linking to its own section with its charts below."""
    from .. import __version__

    e = escape
    errors = list((options.extra or {}).get("errors") or [])
    counts: dict[str, int] = {}
    for r in reports:
        counts[r.status] = counts.get(r.status, 0) + 1
    if errors:
        counts["error"] = len(errors)
    parts = _page_start(f"kto-doctor: {len(reports) + len(errors)} runs")
    parts.append('<header id="sweep"><h1>kto-doctor sweep</h1>')
    parts.append(f"<p>{len(reports) + len(errors)} run(s): "
                 + ", ".join(f"{n} {e(k)}" for k, n in sorted(counts.items())) + "</p></header>")
    parts.append('<table class="ev sweep"><thead><tr><th>run</th><th>method</th><th>status</th><th>top cause</th>'
                 "<th>findings</th></tr></thead><tbody>")
    for i, r in enumerate(reports):
        top = next((d.title for d in r.diagnosis if d.kind == "problem"), "") or \
            (r.findings[0].title if r.findings else "")
        parts.append(f'<tr><td><a href="#run-{i}">{e(str(r.run.path))}</a></td><td>{e(r.run.method)}</td>'
                     f'<td><span class="badge {e(r.status)}">{e(r.status)}</span></td><td>{e(top)}</td>'
                     f"<td>{len(r.findings)}</td></tr>")
    for path, err in errors:
        parts.append(f'<tr><td>{e(str(path))}</td><td></td><td><span class="badge failing">error</span></td>'
                     f"<td>{e(str(err))}</td><td></td></tr>")
    parts.append("</tbody></table>")
    for i, r in enumerate(reports):
        parts.append(f'<section class="run" id="run-{i}">')
        parts += _body(r, prefix=f"run-{i}-", heading=f"{r.run.path}")
        parts.append('<p><a href="#sweep">back to the table</a></p></section>')
    parts.append(f"<footer><p>kto-doctor {e(__version__)} · self-contained report, no network</p></footer>")
    parts.append("</main></body></html>\n")
    return "\n".join(parts)


def _body(report, prefix: str = "", heading: str | None = None) -> list[str]:
    """One run's summary, diagnosis, findings and charts; `prefix` keeps ids unique on a sweep page."""
    from ..engine.template import format_value
    from . import chartdata as cd
    from . import svg

    run = report.run
    e = escape
    steps = run.steps
    parts: list[str] = []

    # summary
    counts = {k: sum(1 for f in report.findings if f.severity == k) for k in ("error", "warning", "info")}
    span = (f"{steps['first']}–{steps['last']} ({steps['logged']} logged)" if steps["logged"] else "none")
    used = [s for s in run.sources if s.used]
    parts.append(f'<header id="{prefix}summary">')
    title = e(heading) if heading else "kto-doctor report"
    tag = "h2" if heading else "h1"
    parts.append(f'<{tag}>{title} <span class="badge {e(report.status)}">{e(report.status.upper())}</span></{tag}>')
    parts.append(f'<p>{len(report.findings)} finding{"s" if len(report.findings) != 1 else ""}: '
                 f'{counts["error"]} error, {counts["warning"]} warning, {counts["info"]} info.</p>')
    parts.append('<dl class="summary">')
    for k, v in (("run", run.path), ("method", run.method), ("framework", run.framework), ("steps", span),
                 ("sources", ", ".join(f"{s.path} ({s.format}, {s.records})" for s in used) or "none")):
        parts.append(f"<dt>{e(k)}</dt><dd>{e(str(v))}</dd>")
    parts.append("</dl>")
    warnings = list(run.warnings) + [w for s in run.sources for w in s.warnings]
    if warnings:
        parts.append('<ul class="warnings">' + "".join(f"<li>{e(w)}</li>" for w in warnings) + "</ul>")
    parts.append("</header>")

    # diagnosis
    problems = [d for d in report.diagnosis if d.kind == "problem"]
    explanations = [d for d in report.diagnosis if d.kind != "problem"]
    parts.append(f'<section id="{prefix}diagnosis">')
    if problems:
        parts.append("<h2>Probable causes, most likely first</h2><ol class=\"causes\">")
        for d in problems:
            refs = _refs(d, prefix)
            parts.append(f'<li><strong>{e(d.title)}</strong> <span class="muted">score {d.score:.2f} · {refs}</span>')
            if d.fixes:
                parts.append("<ul>" + "".join(f"<li>{e(fx)}</li>" for fx in d.fixes) + "</ul>")
            parts.append("</li>")
        parts.append("</ol>")
    if explanations:
        parts.append("<h2>Not a problem</h2><ul>")
        for d in explanations:
            refs = _refs(d, prefix)
            detail = f"<br>{e(d.detail)}" if d.detail else ""
            parts.append(f"<li>{e(d.title)} <span class=\"muted\">{refs}</span>{detail}</li>")
        parts.append("</ul>")
    if report.status == "inconclusive":
        names = report.run.metric_names
        seen = (", ".join(names[:12]) or "none") + (f" and {len(names) - 12} more" if len(names) > 12 else "")
        parts.append('<p class="failing">Read, but not understood: none of the run\'s core series was recognised '
                     f'(series seen: {e(seen)}). '
                     'Map a name with <code>--map LOGGED=CANONICAL</code>.</p>')
    elif not report.findings:
        parts.append('<p class="healthy">No rule fired: nothing looks wrong in what was logged.</p>')
    parts.append("</section>")

    # findings
    if report.findings:
        parts.append(f'<section id="{prefix}findings"><h2>Findings</h2>')
        seen: dict[str, int] = {}
        for f in report.findings:
            seen[f.rule] = seen.get(f.rule, 0) + 1  # a rule can fire once per metric (REF101): unique ids
            anchor = f.rule if seen[f.rule] == 1 else f"{f.rule}-{seen[f.rule]}"
            parts.append(_finding(f, run, e, cd, svg, format_value, report.comparison, anchor, prefix))
        parts.append("</section>")

    # overview: small multiples of everything logged
    names = [m for m in run.metric_names if cd.xy(run, m) is not None]
    if names:
        parts.append(f'<section id="{prefix}overview"><h2>All logged metrics</h2><div class="grid-mini">')
        for m in names:
            x, y = cd.xy(run, m)
            pic = svg.chart([svg.Panel(m, x, y)], width=360, panel_height=110, compact=True, max_points=400,
                            label=f"{m} over steps")
            parts.append(f'<figure class="mini" data-metric="{e(m)}">{pic}</figure>')
        parts.append("</div></section>")

    parts.append(f"<p class=\"muted\">{len(report.passed)} rules passed · {len(report.skipped)} skipped</p>")
    if report.skipped:
        parts.append("<details><summary>Skipped rules</summary><ul>"
                     + "".join(f"<li><code>{e(s.rule)}</code> {e(s.reason)}</li>" for s in report.skipped)
                     + "</ul></details>")
    return parts


def _reference_layers(band, comparison) -> dict:
    """svg.Panel keyword arguments drawing a --against reference curve and its band."""
    if band is None or not len(band.ref_x):
        return {}
    half = comparison.k * band.spread
    return {"ref": (band.ref_x, band.ref_y), "band": (band.ref_x, band.center - half, band.center + half)}


def _refs(d, prefix: str = "") -> str:
    """Links from a diagnosis entry to its findings on the page."""
    return ", ".join(f'<a href="#{prefix}finding-{escape(fid)}">{escape(fid)}</a>' for fid in d.findings)


def _finding(f, run, e, cd, svg, format_value, comparison=None, anchor=None, prefix: str = "") -> str:
    metrics = [m for m in (f.metrics or []) if run.series(m) is not None]
    vlines, hlines = cd.split_markers(f.markers)
    window = list(f.steps) if f.steps else None
    if window and len(window) == 1:
        window = [window[0], window[0]]
    head = (f'<span class="badge sev-{e(f.severity)}">{e(f.severity)}</span> <code>{e(f.rule)}</code> '
            f'<span class="muted">{e(f.name)}</span>')
    if window:
        head += (f' <span class="muted">· step {e(str(window[0]))}</span>' if window[0] == window[-1]
                 else f' <span class="muted">· steps {e(str(window[0]))}–{e(str(window[-1]))}</span>')
    out = [f'<article class="card finding sev-border-{e(f.severity)}" id="{prefix}finding-{e(anchor or f.rule)}">',
           f"<h3>{head}</h3>", f"<p><strong>{e(f.title)}</strong></p>"]
    panels = []
    bands = comparison.bands if comparison is not None and f.symptom == "regression" else {}
    for m in metrics[:4]:
        x, y = cd.xy(run, m)
        mine = {k: v for k, v in hlines.items() if cd.marker_metric(k, metrics) == m}
        panels.append(svg.Panel(m, x, y, mine, **_reference_layers(bands.get(m), comparison)))
    if not panels and f.symptom == "regression":  # the run lacks the metric: the reference alone
        for m in [m for m in f.metrics if m in bands][:1]:
            layers = _reference_layers(bands[m], comparison)
            panels.append(svg.Panel(f"{m} (reference only)", layers["ref"][0], layers["ref"][1], **layers))
    if panels:
        pic = svg.chart(panels, window=window, vlines=vlines, panel_height=150 if len(panels) == 1 else 110,
                        label=f"{f.rule}: {', '.join(metrics[:4])} over steps")
        cap = []
        if window:
            cap.append("shaded: where the rule fired")
        if any(p.band is not None for p in panels):
            cap.append(f"dashed grey: the reference run; green: its tolerance band (median ± {comparison.k:g} x 1.4826 MAD)")
        if hlines or vlines:
            cap.append("dashed: " + ", ".join(f"{cd.label(k)} {cd.fmt(v)}" for k, v in hlines.items())
                       + (", " if hlines and vlines else "")
                       + ", ".join(f"{cd.label(k)} at step {cd.fmt(v)}" for k, v in vlines.items()))
        out.append(f'<figure class="chart finding-chart" data-finding="{e(f.rule)}">{pic}'
                   f"<figcaption>{e('; '.join(cap))}</figcaption></figure>")
    else:
        out.append(f'<figure class="chart finding-chart empty" data-finding="{e(f.rule)}">'
                   "<figcaption>No logged series to draw for this finding.</figcaption></figure>")
    out.append(f"<p>{e(f.message)}</p>")
    if f.evidence:
        out.append('<table class="ev"><tbody>' + "".join(
            f"<tr><td>{e(str(k))}</td><td class=\"mono\">{e(format_value(v))}</td></tr>"
            for k, v in f.evidence.items() if v is not None) + "</tbody></table>")
    out.append("</article>")
    return "\n".join(out)
