"""The HTML report of an evaluation run: one self-contained file an instructor opens in a browser.

No scripts, no external requests (a Content-Security-Policy forbids both as a second line of
defence): inline CSS, inline SVG charts. Every piece of text that comes from the case, the question
file or the bot goes through `esc`, because question files and answers are untrusted input.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any

from bot.evaluation.metrics import DEFINITIONS, METRICS, percentile
from bot.evaluation.questions import Question

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"
_TABLE_ROWS = ("pass_rate", "recall@1", "recall@3", "recall@5", "mrr", "citation_precision",
               "citation_recall", "must_include", "token_f1", "abstention_accuracy",
               "false_abstention_rate", "latency_p50_ms", "latency_p95_ms")
_LABELS = {
    "pass_rate": "Pass rate", "recall@1": "Recall@1", "recall@3": "Recall@3", "recall@5": "Recall@5",
    "mrr": "MRR", "citation_precision": "Citation precision", "citation_recall": "Citation recall",
    "must_include": "must_include hit rate", "token_f1": "Token F1",
    "abstention_accuracy": "Abstention accuracy", "false_abstention_rate": "False abstention rate",
    "latency_p50_ms": "Latency p50", "latency_p95_ms": "Latency p95",
}

_CSS = """
:root { --ink:#1d2330; --muted:#5b6475; --line:#dde1e8; --bg:#f6f7f9; --card:#fff;
  --pass:#1f7a4d; --pass-bg:#e4f4ea; --fail:#b42318; --fail-bg:#fdecea; --accent:#2f5fb3; }
* { box-sizing: border-box; }
body { margin:0; background:var(--bg); color:var(--ink);
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1120px; margin: 0 auto; padding: 28px 24px 64px; }
h1 { font-size: 26px; margin: 0 0 4px; }
h2 { font-size: 19px; margin: 36px 0 12px; padding-bottom: 6px; border-bottom: 1px solid var(--line); }
.sub { color: var(--muted); margin: 0; }
.cards { display:grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap:12px;
  margin-top:20px; }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:12px 14px; }
.card .k { color:var(--muted); font-size:13px; }
.card .v { font-size:26px; font-weight:650; white-space:nowrap; }
.card .n { color:var(--muted); font-size:12px; }
.grid2 { display:grid; grid-template-columns: 1fr 1fr; gap:20px; }
@media (max-width: 860px) { .grid2 { grid-template-columns: 1fr; } }
.panel { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:14px 16px; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
table.metrics { border:1px solid var(--line); border-radius:10px; overflow:hidden; }
table.metrics th, table.metrics td { padding: 7px 12px; border-bottom: 1px solid var(--line);
  text-align:left; }
table.metrics th { background:#eef1f5; font-size:13px; color:var(--muted); font-weight:600; }
table.metrics td.num { text-align:right; font-variant-numeric: tabular-nums; white-space:nowrap; }
table.metrics tr:last-child td { border-bottom: 0; }
.bar { display:block; height:100%; border-radius:4px; background:var(--accent); }
.track { display:inline-block; width:90px; height:8px; border-radius:4px; background:#e7eaf0;
  margin-right:8px; vertical-align:middle; overflow:hidden; }
dl.defs dt { font-weight:600; margin-top:10px; }
dl.defs dd { margin: 2px 0 0 0; color: var(--muted); }
svg { display:block; width:100%; height:auto; }
svg text { font: 12px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: var(--ink); }
.q { background:var(--card); border:1px solid var(--line); border-left:5px solid var(--pass);
  border-radius:8px; padding:12px 16px; margin:12px 0; }
.q.fail { border-left-color: var(--fail); }
.q header { display:flex; gap:10px; align-items:baseline; flex-wrap:wrap; }
.badge { font-size:12px; font-weight:700; padding:1px 8px; border-radius:10px; letter-spacing:.03em; }
.badge.pass { background:var(--pass-bg); color:var(--pass); }
.badge.fail { background:var(--fail-bg); color:var(--fail); }
.qid { font-weight:650; }
.tag { font-size:12px; color:var(--muted); border:1px solid var(--line); border-radius:10px; padding:0 8px; }
.question { font-weight:600; margin:6px 0; white-space:pre-wrap; overflow-wrap:anywhere; }
.answer { white-space:pre-wrap; overflow-wrap:anywhere; background:#f8f9fb; border:1px solid var(--line);
  border-radius:6px; padding:8px 10px; margin:6px 0; }
.reasons { color: var(--fail); margin: 4px 0; }
.history { color:var(--muted); font-size:13px; margin:4px 0; padding-left:18px; }
.history li { overflow-wrap:anywhere; }
.facts { display:grid; grid-template-columns: max-content 1fr; gap:2px 14px; font-size:14px; margin-top:6px; }
.facts dt { color:var(--muted); }
.facts dd { margin:0; overflow-wrap:anywhere; }
.para { display:inline-block; font-size:13px; padding:0 6px; margin:1px 2px 1px 0; border-radius:4px;
  background:#eef1f5; }
.para.hit { background: var(--pass-bg); color: var(--pass); font-weight:600; }
.para.miss { background: var(--fail-bg); color: var(--fail); }
details { margin-top:6px; font-size:14px; }
details summary { cursor:pointer; color: var(--accent); }
blockquote { margin:6px 0; padding:4px 10px; border-left:3px solid var(--line); color:#333a48; }
nav.toc a { color: var(--accent); margin-right: 14px; }
footer { color: var(--muted); font-size: 13px; margin-top: 40px; }
"""


def esc(value: Any) -> str:
    """HTML-escaped text (quotes too, so it is safe in attributes)."""
    return html.escape(str(value), quote=True)


def _value(name: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if name.endswith("_ms"):
        return f"{value:,.0f} ms"
    return f"{value:.3f}"


def _paragraph_chips(paragraphs: Iterable[int], expected: Sequence[int], mark: bool) -> str:
    chips = []
    for number in paragraphs:
        cls = ("hit" if number in expected else "miss") if mark and expected else ""
        chips.append(f'<span class="para {cls}">¶{esc(number)}</span>')
    return "".join(chips) or '<span class="tag">none</span>'


def metrics_table(summary: dict[str, Any]) -> str:
    """The headline metrics as an HTML table (id="metrics")."""
    metrics, counts = summary["metrics"], summary["counts"]
    answerable = summary.get("answerable_only", {}).get("metrics", {})
    rows = []
    for name in _TABLE_ROWS:
        value = metrics.get(name)
        higher = METRICS[name][1]
        gauge = ""
        if value is not None and not name.endswith("_ms"):
            width = max(0.0, min(1.0, value)) * 100
            gauge = f'<span class="track"><span class="bar" style="width:{width:.0f}%"></span></span>'
        note = "" if higher else " <span class=\"tag\">lower is better</span>"
        rows.append(f"<tr><td>{esc(_LABELS.get(name, name))}{note}</td><td><code>{esc(name)}</code></td>"
                    f'<td class="num">{gauge}{esc(_value(name, value))}</td>'
                    f'<td class="num">{esc(counts.get(name, 0))}</td></tr>')
        if name == "pass_rate" and summary.get("unanswerable"):
            rows.append(f"<tr><td>Pass rate, answerable questions</td><td></td>"
                        f'<td class="num">{esc(_value(name, answerable.get("pass_rate")))}</td>'
                        f'<td class="num">{esc(summary.get("answerable", 0))}</td></tr>')
    return ('<table class="metrics" id="metrics"><thead><tr><th>Metric</th><th>Name (for --min / --max)</th>'
            '<th style="text-align:right">Value</th><th style="text-align:right">Questions counted</th>'
            "</tr></thead><tbody>" + "".join(rows) + "</tbody></table>")


def category_chart(summary: dict[str, Any]) -> str:
    """Inline SVG: one horizontal bar per category, its pass rate."""
    categories = list(summary.get("by_category", {}).items())
    row_h, label_w, bar_w, width = 30, 130, 250, 470
    height = row_h * max(1, len(categories)) + 10
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Pass rate per category">']
    for index, (category, data) in enumerate(categories):
        y = 5 + index * row_h
        labelled = data["questions"] - data.get("unlabelled", 0)
        rate = data["passed"] / labelled if labelled else 0.0
        color = "#1f7a4d" if rate >= 0.8 else "#c07c0a" if rate >= 0.5 else "#b42318"
        label = category if len(category) <= 18 else category[:17] + "…"
        parts.append(f'<text x="{label_w - 8}" y="{y + 17}" text-anchor="end">{esc(label)}'
                     f"<title>{esc(category)}</title></text>"
                     f'<rect x="{label_w}" y="{y + 5}" width="{bar_w}" height="16" rx="4" fill="#e7eaf0"/>'
                     f'<rect x="{label_w}" y="{y + 5}" width="{bar_w * rate:.1f}" height="16" rx="4" '
                     f'fill="{color}"/>'
                     + (f'<text x="{label_w + bar_w + 8}" y="{y + 17}">{esc(data["passed"])}/'
                      f'{esc(labelled)} · {rate:.0%}</text>' if labelled else
                      f'<text x="{label_w + bar_w + 8}" y="{y + 17}">{esc(data["questions"])} '
                      "unlabelled</text>"))
    parts.append("</svg>")
    return "".join(parts)


def latency_histogram(latencies: Sequence[float], bins: int = 12) -> str:
    """Inline SVG histogram of per-question latencies, with p50 and p95 marked.

    Far outliers (a cold start, a stalled LLM call) would squash every other bar into one, so
    the axis stops at 1.5 × p95 when the slowest question lies beyond 3 × p95 and the last bar
    collects everything slower.
    """
    width, height, left, bottom, top = 470, 230, 40, 36, 42
    plot_w, plot_h = width - left - 16, height - bottom - top
    if not latencies:
        return (f'<svg viewBox="0 0 {width} 60" role="img" aria-label="Latency histogram">'
                '<text x="10" y="30">No latencies recorded.</text></svg>')
    p50, p95 = percentile(latencies, 50) or 0.0, percentile(latencies, 95) or 0.0
    slowest = max(latencies)
    clipped = slowest > 3 * p95 > 0
    high = (1.5 * p95 if clipped else slowest) or 1.0
    step = high / bins
    counts = [0] * bins
    for value in latencies:
        counts[min(bins - 1, int(value / step))] += 1
    tallest = max(counts)
    bar_w = plot_w / bins
    parts = [f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="Latency histogram">',
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" '
             'stroke="#9aa3b2"/>']
    for index, count in enumerate(counts):
        h = plot_h * count / tallest if tallest else 0
        x = left + index * bar_w
        last = clipped and index == bins - 1
        upper = f"{slowest:,.0f}" if last else f"{(index + 1) * step:,.0f}"
        parts.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{bar_w - 2:.1f}" '
                     f'height="{h:.1f}" fill="{"#7d8fb3" if last else "#2f5fb3"}"><title>'
                     f"{index * step:,.0f}–{upper} ms: {count}</title></rect>")
        if count:
            parts.append(f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h - h - 3:.1f}" '
                         f'text-anchor="middle" font-size="10">{count}</text>')
    for fraction, anchor in ((0, "start"), (0.5, "middle"), (1, "end")):
        x = left + plot_w * fraction
        label = f"{high * fraction:,.0f}" + ("+" if clipped and fraction == 1 else "")
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">{label}</text>')
    note = f" (last bar: up to {slowest:,.0f})" if clipped else ""
    parts.append(f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" '
                 f'fill="#5b6475">milliseconds per question{note}</text>')
    for label, value, color, y in (("p50", p50, "#1f7a4d", 12), ("p95", p95, "#b42318", 27)):
        x = left + plot_w * min(value, high) / high
        anchor, dx = ("end", -4) if x > left + plot_w / 2 else ("start", 4)
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{color}" '
                     f'stroke-dasharray="4 3"/><text x="{x + dx:.1f}" y="{y}" fill="{color}" '
                     f'text-anchor="{anchor}">{label} {value:,.0f} ms</text>')
    parts.append("</svg>")
    return "".join(parts)


def _label_tag(answerable: bool | None) -> str:
    return "unlabelled" if answerable is None else "answerable" if answerable else "should abstain"


def question_card(question: Question, row: dict[str, Any], verdict: dict[str, Any]) -> str:
    """One question: verdict, text, history, answer, cited/expected/retrieved paragraphs."""
    passed = bool(verdict.get("passed"))
    status = "unlabelled" if passed and question.answerable is None else "pass" if passed else "fail"
    expected = list(question.expected_paragraphs)
    cited = [int(c["paragraph"]) for c in row.get("citations", [])]
    retrieved = row.get("retrieved", [])
    metrics = verdict.get("metrics", {})
    parts = [f'<article class="q {status}" id="q-{esc(question.id)}"><header>'
             f'<span class="badge {status}">{status.upper()}</span>'
             f'<span class="qid">{esc(question.id)}</span><span class="tag">{esc(question.category)}</span>'
             f'<span class="tag">{_label_tag(question.answerable)}</span>'
             f'<span class="tag">{"abstained" if row.get("abstained") else "answered"}</span>'
             + (f'<span class="tag">{esc(_value("latency_ms", row.get("latency_ms")))}</span>'
                if row.get("latency_ms") is not None else "")
             + "</header>"]
    if question.history:
        turns = "".join(f"<li><b>{esc(t.role)}:</b> {esc(t.content)}</li>" for t in question.history)
        parts.append(f'<ol class="history">{turns}</ol>')
    parts.append(f'<div class="question">{esc(question.question)}</div>')
    answer = row.get("answer") or ""
    parts.append(f'<div class="answer">{esc(answer) if answer else "<i>(empty answer)</i>"}</div>')
    for reason in verdict.get("reasons", []):
        parts.append(f'<div class="reasons">✗ {esc(reason)}</div>')
    facts = [
        ("Cited", _paragraph_chips(cited, expected, mark=True)),
        ("Expected", _paragraph_chips(expected, expected, mark=False) if expected
         else '<span class="tag">none</span>'),
        ("Retrieved", "".join(
            f'<span class="para {"hit" if int(r["paragraph"]) in expected else ""}">¶{esc(r["paragraph"])} '
            f'<small>{float(r["score"]):.2f}</small></span>' for r in retrieved)
         or '<span class="tag">none</span>'),
    ]
    if question.must_include:
        facts.append(("Must include", ", ".join(f"“{esc(s)}”" for s in question.must_include)))
    if question.reference_answer:
        f1 = metrics.get("token_f1")
        facts.append(("Reference", esc(question.reference_answer)
                      + (f' <span class="tag">token F1 {f1:.2f}</span>' if f1 is not None else "")))
    if row.get("notice"):
        facts.append(("Notice", esc(row["notice"])))
    parts.append('<dl class="facts">' + "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in facts)
                 + "</dl>")
    citations = row.get("citations", [])
    if citations:
        quotes = "".join(f"<p><b>{esc(c.get('label', ''))}</b> {esc(c.get('section', ''))}</p>"
                         f"<blockquote>{esc(c.get('text', ''))}</blockquote>" for c in citations)
        parts.append(f"<details><summary>Text of the cited paragraphs</summary>{quotes}</details>")
    parts.append("</article>")
    return "".join(parts)


def render_report(summary: dict[str, Any], rows: Sequence[dict[str, Any]],
                  questions: Sequence[Question]) -> str:
    """The whole report.html of a run: summary.json, results.jsonl rows and the questions asked."""
    run = summary.get("run", {})
    metrics = summary["metrics"]
    verdicts = {v["id"]: v for v in summary.get("per_question", [])}
    rows_by_id = {row["id"]: row for row in rows}
    ordered = sorted(questions, key=lambda q: bool(verdicts.get(q.id, {}).get("passed")))
    failed = sum(1 for q in questions if not verdicts.get(q.id, {}).get("passed"))
    unlabelled = sum(1 for q in questions if q.answerable is None and verdicts.get(q.id, {}).get("passed"))
    tally = f"{failed} failed, {len(questions) - failed - unlabelled} passed" + (
        f", {unlabelled} unlabelled" if unlabelled else "")
    latencies = [float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None]
    title = f"casebot evaluation · {run.get('case', '')}"
    sub = " · ".join(esc(x) for x in (
        f"case {run.get('case', '?')}", f"backend {run.get('backend', '?')}",
        f"{summary['questions']} questions", f"top-k {run.get('k', '?')}",
        run.get("started_at", ""), run.get("questions_file", "")) if x)

    def card(label: str, value: str, note: str = "") -> str:
        return (f'<div class="card"><div class="k">{esc(label)}</div><div class="v">{esc(value)}</div>'
                f'<div class="n">{esc(note)}</div></div>')

    pass_rate = metrics.get("pass_rate")
    cards = "".join([
        card("Passed", f"{pass_rate:.0%}" if pass_rate is not None else "n/a",
             f"{summary['passed']} of {summary['questions'] - summary.get('unlabelled', 0)} questions"
             + (f"; {summary.get('unlabelled')} unlabelled" if summary.get("unlabelled") else "")),
        card("Recall@5", _value("recall@5", metrics.get("recall@5"))),
        card("Citation precision", _value("citation_precision", metrics.get("citation_precision"))),
        card("must_include hits", _value("must_include", metrics.get("must_include"))),
        card("Abstention accuracy", _value("abstention_accuracy", metrics.get("abstention_accuracy"))),
        card("Latency p50", _value("latency_p50_ms", metrics.get("latency_p50_ms"))),
    ])
    definitions = "".join(f"<dt>{esc(_LABELS.get(name, name))} <code>{esc(name)}</code></dt>"
                          f"<dd>{esc(text)}</dd>" for name, text in DEFINITIONS.items())
    cards_html = "".join(question_card(q, rows_by_id.get(q.id, {}), verdicts.get(q.id, {}))
                         for q in ordered)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="referrer" content="no-referrer">
<title>{esc(title)}</title>
<style>{_CSS}</style>
</head>
<body>
<main>
<header>
<h1>{esc(title)}</h1>
<p class="sub">{sub}</p>
<nav class="toc"><a href="#headline">Metrics</a><a href="#charts">Charts</a>
<a href="#definitions">Definitions</a> <a href="#questions">Questions ({failed} failed)</a></nav>
</header>
<section class="cards">{cards}</section>
<h2 id="headline">Headline metrics</h2>
{metrics_table(summary)}
<div class="grid2" id="charts">
<section><h2>Pass rate per category</h2><div class="panel">{category_chart(summary)}</div></section>
<section><h2>Latency per question</h2><div class="panel">{latency_histogram(latencies)}</div></section>
</div>
<h2 id="definitions">Definitions</h2>
<p>Each metric is computed per question, then averaged over the questions where it is defined
(the “Questions counted” column).</p>
<dl class="defs">{definitions}</dl>
<h2 id="questions">Questions: {tally} (failures first)</h2>
{cards_html}
<footer>Generated by <code>casebot eval</code>. Green paragraphs are expected ones, red ones were cited
but not expected.</footer>
</main>
</body>
</html>
"""
