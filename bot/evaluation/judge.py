"""Optional LLM-judged faithfulness and correctness for `casebot eval --judge`.

The configured chat model reads each answer with the paragraphs it cites and the reference answer,
and says whether the answer is supported (faithful) and right (correct). Off by default: the
offline metrics need no model, and a judge is only as good as the model behind it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from prompts import render

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from bot.evaluation.questions import Question

_OBJECT = re.compile(r"\{.*?\}", re.S)


@dataclass(frozen=True)
class Verdict:
    """The judge's view of one answer; None where it was not judged or could not say."""

    faithful: bool | None = None
    correct: bool | None = None
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"faithful": self.faithful, "correct": self.correct, "note": self.note}


def parse_verdict(reply: str) -> Verdict:
    """The verdict in a judge's reply: the first JSON object with boolean fields."""
    for match in _OBJECT.finditer(reply):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        faithful, correct = data.get("faithful"), data.get("correct")
        if isinstance(faithful, bool) and isinstance(correct, bool):
            return Verdict(faithful, correct)
    return Verdict(note=f"the judge's reply was not a verdict: {reply[:120]!r}")


def judge_answer(model: BaseChatModel, title: str, question: Question, row: dict[str, Any]) -> Verdict:
    """Judge one results.jsonl row; abstentions and failed questions are not judged."""
    if row.get("abstained") or row.get("error") or not str(row.get("answer", "")).strip():
        return Verdict(note="not judged (abstained, empty or failed)")
    sources = "\n\n".join(f"[¶{c['paragraph']}] {c['text']}" for c in row.get("citations", []))
    prompt = render("judge", title=title, question=question.question, answer=row["answer"],
                    sources=sources or "(none cited)",
                    reference=question.reference_answer or "(none given)")
    try:
        reply = model.invoke(prompt)
    except Exception as error:  # a judge failing must not lose the run
        return Verdict(note=f"the judge failed: {type(error).__name__}: {error}")
    return parse_verdict(str(reply.content))
