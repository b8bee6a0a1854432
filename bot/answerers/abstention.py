"""What every answerer says when it does not answer: a plain sentence and where to look instead.

A student whose question the case does not answer still gets somewhere: the two retrieved passages
closest to the question are named as pointers ("You could look at ¶7 (Act I) and ¶12.") and listed
in the answer's `see_also`. They are pointers, not evidence: `citations` stays empty.
"""

from __future__ import annotations

from bot.answer import Answer, Citation, Evidence, page_text
from ingest.layout import CAPTION, FIGURE_NOTE

NOT_COVERED = "The case doesn't cover that."
POINTERS = 2


def decline_message(title: str) -> str:
    """What the bot says to a question that is not about the case."""
    return (f"I can only answer questions about the case “{title}”, from its text. "
            "Ask me something about the case.")


def is_title(evidence: Evidence, paragraph: int) -> bool:
    """Whether a paragraph is the case's title line (¶1 when the first line reads as a title):
    it names the case and is never evidence for an answer."""
    section_and_text = evidence.case.paragraphs.get(paragraph)
    return paragraph == 1 and section_and_text is not None \
        and section_and_text[1].strip() == evidence.case.info.title.strip()


def pointers(evidence: Evidence, count: int = POINTERS) -> tuple[Citation, ...]:
    """The retrieved passages closest to the question, best first, the title line aside."""
    case_id = evidence.case.case_id
    return tuple(Citation.of(case_id, hit)
                 for hit in evidence.hits if not is_title(evidence, hit.paragraph))[:count]


def pointer_sentence(see_also: tuple[Citation, ...]) -> str:
    """"You could look at ¶7 (Act I) and ¶12." for the pointers, or "" when there are none."""
    named = [f"{c.label} ({c.section})" if c.section else c.label for c in see_also]
    if not named:
        return ""
    listed = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    return f"You could look at {listed}."


def about_figure(evidence: Evidence, backend: str) -> Answer | None:
    """When the question's best match is a figure exhibit (a chart, an image: no text to read),
    the answer that says so and where to look, instead of an answer from lesser matches or "the
    case doesn't cover that"; None otherwise."""
    if evidence.figure is None:
        return None
    figure = Citation.of(evidence.case.case_id, evidence.figure)
    # The caption without its own label ("Exhibit 2 Market share" -> "Market share").
    caption = CAPTION.sub("", figure.text.removesuffix(FIGURE_NOTE)).strip(" :.–-")
    named = f" (“{caption}”)" if caption else ""
    where = f" ({page_text(figure.page)} of the case)" if figure.page else ""
    text = f"{figure.label} is a figure{named}, which I can't read: look at it in the case{where}."
    return Answer(text, True, (), evidence.case.case_id, backend,
                  see_also=(figure, *pointers(evidence))[:POINTERS])


def not_covered(evidence: Evidence, backend: str, unsupported: tuple[str, ...] = ()) -> Answer:
    """The abstention: the plain sentence, then the pointers to the closest passages."""
    see_also = pointers(evidence)
    text = " ".join(part for part in (NOT_COVERED, pointer_sentence(see_also)) if part)
    return Answer(text, True, (), evidence.case.case_id, backend, unsupported=unsupported,
                  see_also=see_also)


def declined(evidence: Evidence, backend: str) -> Answer:
    """The answer to a question that is not about the case (no pointers: nothing was asked of it)."""
    return Answer(decline_message(evidence.case.info.title), True, (), evidence.case.case_id, backend)
