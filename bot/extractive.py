"""The extractive answerer: answers with the case's own sentences, never with new words of fact.

It scores the sentences of the retrieved paragraphs by meaning (cosine similarity to the
question) and by coverage of the question's terms (weighted by how rare they are in the case),
decides from that evidence whether the case answers at all, and composes one to three sentences,
each followed by the marker of the paragraph it comes from.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.answer import Answer
from bot.citations import build_citations, marker
from bot.evidence import Evidence
from bot.guard import looks_like_injection
from vectorstore.text import STOPWORDS, content_terms, stem, tokens

NAME = "extractive"
MAX_SENTENCES = 3
_MONTHS = "january february march april may june july august september october november december"
_DATE = re.compile(r"\b(?:1[89]|20)\d{2}\b|\b(?:" + "|".join(_MONTHS.split()) + r")\b", re.I)
_QUANTITY = re.compile(r"[$€£¥]\s?\d|\b\d[\d.,]*\s?(?:%|percent|million|billion|thousand)|\b\d+\b",
                       re.I)
_CAPITALISED = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z]+\b")
_ANSWER_TYPES = {"when": _DATE, "year": _DATE, "date": _DATE, "much": _QUANTITY, "many": _QUANTITY,
                 "percent": _QUANTITY, "stake": _QUANTITY, "size": _QUANTITY}


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with the evidence for it."""

    row: int
    paragraph: int
    text: str
    similarity: float
    coverage: float
    score: float


def decline_message(title: str) -> str:
    """What the bot says to a question that is not about the case."""
    return (f"I can only answer questions about the case “{title}”, from its text. "
            "Ask me something about the case.")


def not_in_case_message(title: str, missing: list[str]) -> str:
    """What the bot says when the case does not answer a question."""
    if missing:
        named = ", ".join(f"“{word}”" for word in missing[:3])
        return f"The case doesn't say: “{title}” never mentions {named}."
    return f"The case doesn't say: nothing in “{title}” answers this question."


def with_marker(sentence: str, paragraph: int) -> str:
    """The sentence with its paragraph marker placed before the closing punctuation."""
    body = sentence.rstrip()
    closing = re.search(r"[.!?]$", body)
    if closing is None:
        return f"{body} {marker(paragraph)}"
    return f"{body[:closing.start()]} {marker(paragraph)}{body[closing.start():]}"


class ExtractiveAnswerer:
    """Deterministic answers built from the case's own sentences, with paragraph markers."""

    name = NAME

    def __init__(self, min_similarity: float = 0.3, relative_cutoff: float = 0.8) -> None:
        self.min_similarity = min_similarity
        self.relative_cutoff = relative_cutoff

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        """The answer text in word-sized pieces, then the Answer."""
        answer = self.answer(evidence)
        words = answer.answer.split(" ")
        for index, word in enumerate(words):
            yield word if index == len(words) - 1 else word + " "
        yield answer

    def answer(self, evidence: Evidence) -> Answer:
        """Answer from the evidence, or abstain when it does not answer the question."""
        title = evidence.case.info.title
        if looks_like_injection(evidence.question):
            return self._abstain(evidence, decline_message(title))
        missing = self._missing_specifics(evidence)
        if missing:
            return self._abstain(evidence, not_in_case_message(title, missing))
        scored = self._score(evidence)
        if not scored or scored[0].similarity < self.min_similarity:
            return self._abstain(evidence, not_in_case_message(title, []))
        chosen = self._select(scored)
        text = " ".join(with_marker(s.text, s.paragraph) for s in chosen)
        return Answer(text, False, build_citations(text, evidence.case.case_id, evidence.sources),
                      evidence.case.case_id, NAME)

    def _abstain(self, evidence: Evidence, message: str) -> Answer:
        return Answer(message, True, (), evidence.case.case_id, NAME)

    def _missing_specifics(self, evidence: Evidence) -> list[str]:
        """Names and numbers in the question that the case never mentions."""
        vocabulary = evidence.case.vocabulary
        missing = []
        for word in _CAPITALISED.findall(evidence.question) + re.findall(r"\b\d[\d.,]*\b",
                                                                          evidence.question):
            token = tokens(word)
            if token and token[0] not in STOPWORDS and stem(token[0]) not in vocabulary:
                missing.append(word)
        return list(dict.fromkeys(missing))

    def _weights(self, evidence: Evidence) -> dict[str, float]:
        """Query terms found in the case, weighted by rarity; history terms count half."""
        index = evidence.case.sentence_index
        own = set(content_terms(evidence.question))
        weights = {}
        for term in content_terms(evidence.query):
            if term in evidence.case.vocabulary:
                weights[term] = index.idf_of(term) * (1.0 if term in own else 0.5)
        return weights

    def _score(self, evidence: Evidence) -> list[ScoredSentence]:
        case = evidence.case
        weights = self._weights(evidence)
        total = sum(weights.values()) or 1.0
        wanted = [pattern for word, pattern in _ANSWER_TYPES.items()
                  if word in tokens(evidence.question)]
        rank_bonus = {hit.paragraph: 0.05 / (1 + rank) for rank, hit in enumerate(evidence.hits)}
        scored = []
        for hit in evidence.hits:
            rows = case.sentences_of(hit.paragraph)
            if not rows:
                continue
            sims = case.vectors[rows] @ evidence.query_vector
            for row, sim in zip(rows, sims, strict=True):
                text = case.texts[row]
                terms = set(content_terms(text))
                coverage = sum(w for t, w in weights.items() if t in terms) / total
                typed = 0.1 if any(p.search(text) for p in wanted) else 0.0
                score = 0.55 * float(sim) + 0.45 * coverage + typed + rank_bonus[hit.paragraph]
                scored.append(ScoredSentence(row, hit.paragraph, text, float(sim), coverage, score))
        return sorted(scored, key=lambda s: -s.score)

    def _select(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, plus up to two that are nearly as good and say something new."""
        best = scored[0]
        chosen = [best]
        for candidate in scored[1:]:
            if len(chosen) == MAX_SENTENCES or candidate.score < self.relative_cutoff * best.score:
                break
            if candidate.text in {c.text for c in chosen}:
                continue
            chosen.append(candidate)
        return chosen

