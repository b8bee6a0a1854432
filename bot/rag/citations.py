"""Citation markers: find `[¶n]` markers, drop the ones that name no usable paragraph, and
build the citation list in order of first mention."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.answer import Citation
from vectorstore.hybrid import ScoredParagraph

# Accept the forms models tend to write: [¶12], [¶ 12], [¶12, ¶13], [¶12][¶13], [P12].
MARKER = re.compile(r"\[\s*(?:¶|P|p|para\.?|paragraph)\s*(\d{1,5})((?:\s*[,;]\s*(?:¶|P|p)?\s*\d{1,5})*)\s*\]")
_NUMBER = re.compile(r"\d{1,5}")


def marker(paragraph: int) -> str:
    """The canonical marker for a paragraph."""
    return f"[¶{paragraph}]"


def place_markers(sentence: str, markers: str) -> str:
    """`markers` placed before the sentence's closing punctuation ("... a 5% stake [¶12].")."""
    body = sentence.rstrip()
    if body and body[-1] in ".!?":
        return f"{body[:-1]} {markers}{body[-1]}"
    return f"{body} {markers}"


def cited_numbers(text: str) -> list[int]:
    """Paragraph numbers named by markers in `text`, in order of first mention."""
    numbers: list[int] = []
    for match in MARKER.finditer(text):
        for found in _NUMBER.findall(match.group(0)):
            if int(found) not in numbers:
                numbers.append(int(found))
    return numbers


def enforce_markers(text: str, allowed: set[int]) -> str:
    """Rewrite markers canonically, keeping only paragraphs in `allowed`; tidy the spacing."""

    def rewrite(match: re.Match[str]) -> str:
        numbers = [int(n) for n in _NUMBER.findall(match.group(0))]
        return "".join(marker(n) for n in dict.fromkeys(numbers) if n in allowed)

    cleaned = MARKER.sub(rewrite, text)
    cleaned = re.sub(r"[ \t]+([.,;:!?])", r"\1", cleaned)
    return re.sub(r"[ \t]{2,}", " ", cleaned).strip()


def build_citations(text: str, case_id: str, sources: Mapping[int, ScoredParagraph]
                    ) -> tuple[Citation, ...]:
    """One citation per paragraph cited in `text`, in order of first mention."""
    citations = []
    for number in cited_numbers(text):
        hit = sources.get(number)
        if hit is not None:
            citations.append(Citation.of(case_id, hit))
    return tuple(citations)
