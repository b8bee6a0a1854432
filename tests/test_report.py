"""The eval report's HTML without a browser: escaping, the CSP, the charts' edge cases.

tests/test_report_browser.py checks the page in Chromium; these are the fast checks of what the
Jinja2 templates write.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.answer import Turn
from bot.evaluation.questions import Question
from bot.evaluation.report import render_report
from bot.evaluation.runner import build_summary

TEMPLATES = Path(__file__).resolve().parent.parent / "bot" / "evaluation" / "templates"
HOSTILE = '<script>alert(1)</script>" onmouseover="alert(2)'
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
       "form-action 'none'")


def _report(latencies: tuple[float | None, float | None] = (120.0, 5400.0)) -> str:
    questions = [
        Question(f"q1{HOSTILE}", f"How much? {HOSTILE}", history=(Turn("user", f"Hi {HOSTILE}"),),
                 reference_answer=f"$700 million {HOSTILE}", expected_paragraphs=(12,),
                 must_include=(HOSTILE,), category=f"a-long-category-name{HOSTILE}"),
        Question("q2", "Revenue?", answerable=False, category="unanswerable"),
    ]
    rows = [
        {"id": questions[0].id, "question": questions[0].question, "answer": f"It says {HOSTILE} [¶12].",
         "abstained": False, "latency_ms": latencies[0], "notice": f"note {HOSTILE}",
         "citations": [{"label": "¶12", "paragraph": 12, "section": HOSTILE, "text": HOSTILE}],
         "retrieved": [{"paragraph": 12, "score": 0.91}, {"paragraph": 3, "score": 0.5}]},
        {"id": "q2", "question": "Revenue?", "answer": "", "abstained": True, "citations": [],
         "latency_ms": latencies[1], "retrieved": []},
    ]
    run = {"case": f"case{HOSTILE}", "backend": "extractive", "k": 5, "questions_file": HOSTILE}
    return render_report(build_summary(questions, rows, run), rows, questions)


def test_the_report_carries_its_csp_and_no_script() -> None:
    report = _report()
    assert report.startswith("<!doctype html>\n") and report.endswith("</html>\n")
    assert f'<meta http-equiv="Content-Security-Policy" content="{CSP}">' in report
    assert "<script" not in report and 'onmouseover="' not in report


def test_untrusted_text_is_escaped_in_text_and_attributes() -> None:
    report = _report()
    escaped = "&lt;script&gt;alert(1)&lt;/script&gt;&#34; onmouseover=&#34;alert(2)"
    # Question text, history, answer, reference, must_include, notice, citation section and text,
    # the category (chart title and tag), the run's case and question file, the id attribute.
    assert report.count(escaped) >= 12
    assert f'id="q-q1{escaped}"' in report


def test_metrics_cards_and_charts_show_the_numbers() -> None:
    report = _report()
    assert '<table class="metrics" id="metrics">' in report
    assert re.search(r'<td class="num"><span class="track"><span class="bar" style="width:100%">'
                     r"</span></span>1\.000</td>", report)  # pass rate: both questions pass
    assert '<div class="v">120 ms</div>' not in report  # p50 of 120 and 5,400 is 2,760 ms
    assert '<div class="v">2,760 ms</div>' in report
    assert "a-long-category-n…<title>" in report  # the bar label is cut, its title is whole
    assert "p95 5,136 ms" in report


def test_a_run_without_latencies_says_so() -> None:
    report = _report(latencies=(None, None))
    assert "No latencies recorded." in report
    assert '<div class="v">n/a</div>' in report


def test_the_templates_never_turn_escaping_off() -> None:
    source = "".join(path.read_text(encoding="utf-8") for path in sorted(TEMPLATES.iterdir()))
    assert "report.html.j2" in {path.name for path in TEMPLATES.iterdir()}
    for unsafe in ("|safe", "| safe", "autoescape false", "Markup"):
        assert unsafe not in source, unsafe
    report_py = (TEMPLATES.parent / "report.py").read_text(encoding="utf-8")
    assert "Markup" not in report_py and "autoescape=True" in report_py
