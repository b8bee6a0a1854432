"""Citation markers: find `[¶n]` markers, drop the ones that name no usable paragraph, and
build the citation list in order of first mention."""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.answer import Citation
from vectorstore.hybrid import ScoredParagraph
from vectorstore.text import sentences

# An answer sentence shorter than this is not taken as quoting a sentence that contains it: a
# few common words ("It did.") would be found in many sentences.
MIN_QUOTED_WORDS = 4

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
    """One citation per paragraph cited in `text`, in order of first mention, each with the
    sentences of its paragraph that `text` repeats as its `quote`."""
    said = [_folded(s) for s in sentences(enforce_markers(text, set()))]
    said = [s for s in said if len(s.split()) >= MIN_QUOTED_WORDS]
    citations = []
    for number in cited_numbers(text):
        hit = sources.get(number)
        if hit is not None:
            citations.append(Citation.of(case_id, hit, quoted(hit.text, said)))
    return tuple(citations)


def quoted(paragraph: str, said: list[str]) -> tuple[str, ...]:
    """The sentences of `paragraph`, verbatim, that contain one of the `said` sentences (folded
    by `_folded`): an extractive answer may drop a sentence's opening connective ("However, ")."""
    return tuple(sentence for sentence in sentences(paragraph)
                 if any(part in _folded(sentence) for part in said))


def _folded(sentence: str) -> str:
    """A sentence compared loosely: case, runs of whitespace and closing punctuation ignored."""
    return " ".join(sentence.split()).lower().rstrip(".!?;:")
