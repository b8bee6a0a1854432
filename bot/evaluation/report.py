"""The HTML report of an evaluation run: one self-contained file an instructor opens in a browser.

No scripts, no external requests (the page's Content-Security-Policy forbids both as a second line
of defence): inline CSS, inline SVG charts. The markup is in Jinja2 templates (templates/, shipped
as package data) rendered with autoescape on; this module only computes what they show. Text from
the case, the question file or the bot is untrusted input, so nothing here or in the templates is
marked safe: every value reaches the page HTML-escaped.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from bot.answer import place_of
from bot.evaluation.metrics import DEFINITIONS, METRICS, format_value, percentile
from bot.evaluation.questions import Question

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


@cache
def environment() -> Environment:
    """The Jinja2 environment of the report templates: autoescape on, undefined names are errors."""
    env = Environment(loader=PackageLoader("bot.evaluation", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                      keep_trailing_newline=True)
    env.filters["fmt"] = format  # {{ x|fmt(".1f") }}: Python's format spec, as the f-strings had
    return env


def metric_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the headline metrics table: label, name, formatted value, gauge width, count."""
    metrics, counts = summary["metrics"], summary["counts"]
    answerable = summary.get("answerable_only", {}).get("metrics", {})
    rows = []
    for name in _TABLE_ROWS:
        value = metrics.get(name)
        gauge = None if value is None or name.endswith("_ms") else max(0.0, min(1.0, value)) * 100
        rows.append({"label": _LABELS.get(name, name), "name": name, "gauge": gauge,
                     "value": format_value(name, value), "counted": counts.get(name, 0),
                     "lower_is_better": not METRICS[name][1]})
        if name == "pass_rate" and summary.get("unanswerable"):
            rows.append({"label": "Pass rate, answerable questions", "name": "", "gauge": None,
                         "value": format_value(name, answerable.get("pass_rate")),
                         "counted": summary.get("answerable", 0), "lower_is_better": False})
    return rows


def category_chart(summary: dict[str, Any]) -> dict[str, Any]:
    """Geometry of the SVG bar chart: one horizontal bar per category, its pass rate."""
    categories = list(summary.get("by_category", {}).items())
    row_h, label_w, bar_w, width = 30, 130, 250, 470
    bars = []
    for index, (category, data) in enumerate(categories):
        y = 5 + index * row_h
        # Unlabelled questions (exported from the records, answerable not yet set) pass or fail
        # on nothing: the rate is over the labelled ones.
        labelled = data["questions"] - data.get("unlabelled", 0)
        rate = data["passed"] / labelled if labelled else 0.0
        bars.append({
            "category": category, "label": category if len(category) <= 18 else category[:17] + "…",
            "passed": data["passed"], "questions": data["questions"], "labelled": labelled, "rate": rate,
            "fill_w": bar_w * rate, "text_y": y + 17, "rect_y": y + 5,
            "color": "#1f7a4d" if rate >= 0.8 else "#c07c0a" if rate >= 0.5 else "#b42318",
        })
    return {"width": width, "height": row_h * max(1, len(categories)) + 10, "bars": bars,
            "label_x": label_w - 8, "bar_x": label_w, "bar_w": bar_w, "count_x": label_w + bar_w + 8}


def latency_histogram(latencies: Sequence[float], bins: int = 12) -> dict[str, Any]:
    """Geometry of the SVG histogram of per-question latencies, with p50 and p95 marked.

    Far outliers (a cold start, a stalled LLM call) would squash every other bar into one, so
    the axis stops at 1.5 × p95 when the slowest question lies beyond 3 × p95 and the last bar
    collects everything slower.
    """
    width, height, left, bottom, top = 470, 230, 40, 36, 42
    plot_w, plot_h = width - left - 16, height - bottom - top
    if not latencies:
        return {"width": width, "bars": []}
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
    bars = []
    for index, count in enumerate(counts):
        h = plot_h * count / tallest if tallest else 0
        x = left + index * bar_w
        last = clipped and index == bins - 1
        bars.append({"x": x + 1, "y": top + plot_h - h, "width": bar_w - 2, "height": h,
                     "center": x + bar_w / 2, "fill": "#7d8fb3" if last else "#2f5fb3",
                     "low": index * step, "high": slowest if last else (index + 1) * step,
                     "count": count})
    ticks = [{"x": left + plot_w * fraction, "anchor": anchor,
              "label": f"{high * fraction:,.0f}" + ("+" if clipped and fraction == 1 else "")}
             for fraction, anchor in ((0, "start"), (0.5, "middle"), (1, "end"))]
    markers = []
    for label, value, color, y in (("p50", p50, "#1f7a4d", 12), ("p95", p95, "#b42318", 27)):
        x = left + plot_w * min(value, high) / high
        anchor, dx = ("end", -4) if x > left + plot_w / 2 else ("start", 4)
        markers.append({"label": label, "value": value, "color": color, "y": y, "x": x,
                        "label_x": x + dx, "anchor": anchor})
    return {"width": width, "height": height, "left": left, "right": left + plot_w, "top": top,
            "axis_y": top + plot_h, "tick_y": top + plot_h + 16, "bars": bars, "ticks": ticks,
            "caption_x": left + plot_w / 2, "caption_y": height - 4,
            "caption_note": f" (last bar: up to {slowest:,.0f})" if clipped else "",
            "markers": markers}


def question_card(question: Question, row: dict[str, Any], verdict: dict[str, Any]) -> dict[str, Any]:
    """What one question's card shows: verdict, text, history, answer, cited/expected/retrieved
    paragraphs."""
    expected = list(question.expected_paragraphs)
    cited = [int(c["paragraph"]) for c in row.get("citations", [])]

    def cited_class(number: int) -> str:
        return ("hit" if number in expected else "miss") if expected else ""

    latency = row.get("latency_ms")
    passed = bool(verdict.get("passed"))
    return {
        "status": "unlabelled" if passed and question.answerable is None else "pass" if passed else "fail",
        "id": question.id, "category": question.category, "answerable": question.answerable,
        "abstained": bool(row.get("abstained")),
        "latency": format_value("latency_ms", latency) if latency is not None else None,
        "history": question.history, "question": question.question,
        "answer": row.get("answer") or "", "reasons": verdict.get("reasons", []),
        "cited": [{"number": n, "cls": cited_class(n)} for n in cited],
        "expected": [{"number": n, "cls": ""} for n in expected],
        "retrieved": [{"paragraph": r["paragraph"], "score": float(r["score"]),
                       "cls": "hit" if int(r["paragraph"]) in expected else ""}
                      for r in row.get("retrieved", [])],
        "must_include": question.must_include, "reference": question.reference_answer,
        "token_f1": verdict.get("metrics", {}).get("token_f1"), "notice": row.get("notice") or "",
        "citations": [{"label": place_of(c.get("label", ""), c.get("page")), "section": c.get("section", ""),
                       "text": c.get("text", "")} for c in row.get("citations", [])],
    }


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
    latencies = [float(r["latency_ms"]) for r in rows if r.get("latency_ms") is not None]
    pass_rate = metrics.get("pass_rate")

    def card(label: str, name: str) -> dict[str, str]:
        return {"label": label, "value": format_value(name, metrics.get(name)), "note": ""}

    cards = [
        {"label": "Passed", "value": f"{pass_rate:.0%}" if pass_rate is not None else "n/a",
         "note": f"{summary['passed']} of {summary['questions'] - summary.get('unlabelled', 0)} questions"
                 + (f"; {summary['unlabelled']} unlabelled" if summary.get("unlabelled") else "")},
        card("Recall@5", "recall@5"),
        card("Citation precision", "citation_precision"),
        card("must_include hits", "must_include"),
        card("Abstention accuracy", "abstention_accuracy"),
        card("Latency p50", "latency_p50_ms"),
    ]
    subtitle = [str(x) for x in (
        f"case {run.get('case', '?')}", f"backend {run.get('backend', '?')}",
        f"{summary['questions']} questions", f"top-k {run.get('k', '?')}",
        run.get("started_at", ""), run.get("questions_file", "")) if x]
    return environment().get_template("report.html.j2").render(
        title=f"casebot evaluation · {run.get('case', '')}",
        subtitle=subtitle,
        failed=failed,
        passed=len(questions) - failed - unlabelled,
        unlabelled=unlabelled,
        cards=cards,
        metric_rows=metric_rows(summary),
        category_chart=category_chart(summary),
        histogram=latency_histogram(latencies),
        definitions=[{"label": _LABELS.get(name, name), "name": name, "text": text}
                     for name, text in DEFINITIONS.items()],
        question_cards=[question_card(q, rows_by_id.get(q.id, {}), verdicts.get(q.id, {}))
                        for q in ordered],
    )
