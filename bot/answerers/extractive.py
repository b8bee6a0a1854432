"""The extractive answerer: answers with the case's own sentences, never with new words of fact.

A learned scorer (bot/answerers/scorer.py, trained on SQuAD 2.0 articles by `make train`) gives
every sentence of the retrieved paragraphs the probability that it states the answer, and the
question the calibrated probability that the case answers it at all. Below the threshold chosen
on the development data the answerer abstains and points to the two closest passages; otherwise
it answers with the best sentence, and the next one when it is nearly as likely, each followed by
the marker of its paragraph. It reads the case as connected prose: a sentence opening with a
connective ("But", "However") loses it unless the sentence it leans on is shown, a list is given
whole when the question asks for several things, and each part of a compound question gets its
own sentence. The title line is never evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from bot.answer import Answer, Citation, Evidence
from bot.answerers.scorer import (
    ANSWER_PATTERNS,
    Candidates,
    Scorer,
    candidate_features,
    evidence_summary,
    is_title,
    load_scorer,
    question_features,
    question_words,
    wanted_type,
)
from bot.lang.english import ORDINALS
from bot.rag.citations import build_citations, marker
from bot.rag.guard import looks_like_injection
from vectorstore.store import LoadedCase
from vectorstore.text import STOPWORDS, tokens

NAME = "extractive"
MAX_SENTENCES = 3
# The kinds of answer retrieval makes sure to bring a paragraph for (see hybrid_search).
_STRICT_TYPES = frozenset({"date", "amount", "count"})
ANSWER_TYPES = ANSWER_PATTERNS
_SEVERAL = frozenset("two three four five several both".split())
_ORDINAL_OPENING = re.compile(r"^(" + "|".join(ORDINALS) + r")(?:ly)?\b", re.I)
_CLAUSE_JOIN = re.compile(r"(?:,\s*|\s+)and\s+(?=(?:what|how|why|who|when|where|which|did|does|do|is|was|"
                          r"were|are)\b)|;\s*", re.I)
# A connective opening a sentence says how it follows from the one before; shown alone it dangles.
_CONNECTIVE = re.compile(r"^(?:But|And|So|Yet|Still|However|Moreover|Furthermore|Instead|Also|Then|"
                         r"Thus|Hence|Therefore|Nevertheless|Nonetheless|Meanwhile|Consequently|"
                         r"In addition|As a result|Even so|On the other hand)\b,?\s+")
SEE_ALSO = 2


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with the probability that it states the answer."""

    row: int
    paragraph: int
    text: str
    probability: float


def decline_message(title: str) -> str:
    """What the bot says to a question that is not about the case."""
    return (f"I can only answer questions about the case “{title}”, from its text. "
            "Ask me something about the case.")


def not_in_case_message(title: str, missing: list[str], pointers: tuple[Citation, ...] = ()) -> str:
    """What the bot says when the case does not answer a question: plainly that, then where the
    closest passages are ("You could look at ¶7 (Act I: ...) and ¶12.")."""
    del title, missing  # kept for callers; the message no longer lists words the case lacks
    message = "The case doesn't cover that."
    if pointers:
        named = [f"¶{c.paragraph} ({c.section})" if c.section else f"¶{c.paragraph}" for c in pointers]
        joined = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
        message += f" You could look at {joined}."
    return message


def with_marker(sentence: str, paragraph: int) -> str:
    """The sentence with its paragraph marker placed before the closing full stop."""
    body = sentence.rstrip()
    if re.search(r"[.!?]$", body):
        return f"{body[:-1]} {marker(paragraph)}{body[-1]}"
    return f"{body} {marker(paragraph)}"


def without_connective(sentence: str) -> str:
    """The sentence without an opening connective ("But by 2023, ..." -> "By 2023, ...")."""
    match = _CONNECTIVE.match(sentence)
    if match is None or match.end() >= len(sentence):
        return sentence
    rest = sentence[match.end():]
    return rest[0].upper() + rest[1:]


def in_reading_order(chosen: list[ScoredSentence]) -> list[ScoredSentence]:
    """The sentences with those of one paragraph together and in the order the case has them;
    paragraphs keep the order of their best sentence, so the direct answer still comes first."""
    order = list(dict.fromkeys(s.paragraph for s in chosen))
    return sorted(chosen, key=lambda s: (order.index(s.paragraph), s.row))


def compose(chosen: list[ScoredSentence], case: LoadedCase | None = None) -> str:
    """The answer text: the sentences by paragraph, each run from one paragraph ending in its
    marker; a sentence whose predecessor is not shown loses its opening connective."""
    chosen = in_reading_order(chosen)
    shown = {s.row for s in chosen}
    pieces = []
    for index, sentence in enumerate(chosen):
        following = chosen[index + 1] if index + 1 < len(chosen) else None
        continued = following is not None and following.paragraph == sentence.paragraph \
            and following.row == sentence.row + 1
        text = sentence.text.strip()
        previous = case.previous_sentence(sentence.row) if case is not None else None
        if previous is None or previous not in shown:
            text = without_connective(text)
        pieces.append(text if continued else with_marker(text, sentence.paragraph))
    return " ".join(pieces)


def split_question(question: str) -> list[str]:
    """The parts of a compound question ("Why did X, and what did Y?"), or the question itself."""
    parts = [p.strip(" ,;") for p in _CLAUSE_JOIN.split(question) if p and p.strip(" ,;?")]
    return parts if len(parts) > 1 else [question]


def asks_for_several(question: str) -> bool:
    """Whether a question asks for more than one thing ("What were the two benefits?",
    "Which reasons ...")."""
    words = [w for w in tokens(question) if w.isalpha()]
    return any(w in _SEVERAL for w in words) or any(
        len(w) > 3 and w.endswith("s") and not w.endswith(("ss", "us", "is")) and w not in STOPWORDS
        for w in words)


def asked_ordinal(question: str) -> str | None:
    """The ordinal a question asks about ("What was the second benefit?" asks about "second")."""
    return next((w for w in tokens(question) if w in ORDINALS), None)


def expected_type(question: str) -> str | None:
    """The kind of answer a question asks for: date, count, amount, place, name, or None."""
    return wanted_type(question)


class ExtractiveAnswerer:
    """Deterministic answers built from the case's own sentences, with paragraph markers."""

    name = NAME

    def __init__(self, scorer: Scorer | None = None, model_path: Path | None = None,
                 threshold: float | None = None, second_share: float | None = None,
                 max_words: int = 60, lean_context: bool = True) -> None:
        self._scorer = scorer
        self._model_path = model_path
        self._threshold = threshold
        self._second_share = second_share
        # A second sentence joins only while the answer stays this short.
        self.max_words = max_words
        # Whether a best sentence leaning on the one before ("They demanded ...") is shown with it.
        self.lean_context = lean_context

    @property
    def scorer(self) -> Scorer:
        """The learned scorer, read on first use (retrieval alone does not need it)."""
        if self._scorer is None:
            self._scorer = load_scorer(self._model_path) if self._model_path else load_scorer()
        return self._scorer

    @property
    def threshold(self) -> float:
        """Answer when the probability that the case answers is at least this."""
        return self.scorer.threshold if self._threshold is None else self._threshold

    @property
    def second_share(self) -> float:
        """A second sentence joins when it is at least this share as likely as the best."""
        return self.scorer.second_share if self._second_share is None else self._second_share

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        """The answer text in word-sized pieces, then the Answer."""
        answer = self.answer(evidence)
        words = answer.answer.split(" ")
        for index, word in enumerate(words):
            yield word if index == len(words) - 1 else word + " "
        yield answer

    def judge(self, evidence: Evidence) -> tuple[Candidates, np.ndarray, float]:
        """The candidates, the probability that each states the answer, and the calibrated
        probability that the case answers the question."""
        candidates = candidate_features(evidence)
        probabilities = self.scorer.sentence_probabilities(candidates)
        summary = evidence_summary(evidence, candidates, self.scorer.near_word)
        features = question_features(candidates, probabilities, summary)
        return candidates, probabilities, self.scorer.answer_probability(features)

    def answer(self, evidence: Evidence) -> Answer:
        """Answer from the evidence, or abstain when it does not answer the question."""
        title = evidence.case.info.title
        if looks_like_injection(evidence.question):
            return Answer(decline_message(title), True, (), evidence.case.case_id, NAME)
        candidates, probabilities, answerable = self.judge(evidence)
        if not candidates.rows or answerable < self.threshold:
            return self._abstain(evidence)
        scored = self._ranked(evidence, candidates, probabilities)
        parts = split_question(evidence.question)
        if len(parts) > 1:
            chosen = self._answer_parts(evidence, parts) or scored[:1]
        else:
            chosen = self._select(scored)
            chosen = self._with_enumeration(evidence, chosen)
            if self.lean_context:
                chosen = self._with_context(evidence.case, chosen)
        text = compose(chosen, evidence.case)
        return Answer(text, False, build_citations(text, evidence.case.case_id, evidence.sources),
                      evidence.case.case_id, NAME)

    def score(self, evidence: Evidence) -> list[ScoredSentence]:
        """Every candidate sentence of the retrieved paragraphs, most likely answer first."""
        candidates = candidate_features(evidence)
        return self._ranked(evidence, candidates, self.scorer.sentence_probabilities(candidates))

    @staticmethod
    def _ranked(evidence: Evidence, candidates: Candidates, probabilities: np.ndarray
                ) -> list[ScoredSentence]:
        case = evidence.case
        scored = [ScoredSentence(row, paragraph, case.texts[row], float(p))
                  for row, paragraph, p in zip(candidates.rows, candidates.paragraphs, probabilities,
                                               strict=True)]
        # Ties (identical sentences) go to the earlier one, so answers are deterministic.
        return sorted(scored, key=lambda s: (-s.probability, s.row))

    def _answer_parts(self, evidence: Evidence, parts: list[str]) -> list[ScoredSentence]:
        """The best new sentence for each part of a compound question, in the parts' order."""
        chosen: list[ScoredSentence] = []
        for part in parts:
            query = part if evidence.query == evidence.question else f"{part} {evidence.query}"
            sub = replace(evidence, question=part, query=query,
                          query_vector=evidence.embeddings.encode_query(query))
            best = next((s for s in self.score(sub) if s.row not in {c.row for c in chosen}), None)
            if best is not None:
                chosen.append(best)
        return chosen[:MAX_SENTENCES]

    def _abstain(self, evidence: Evidence) -> Answer:
        """"The case doesn't cover that.", pointing to the two closest passages (never the title)."""
        case = evidence.case
        closest = [h for h in evidence.hits if not is_title(case, h.paragraph)][:SEE_ALSO]
        pointers = tuple(Citation(f"{case.case_id}:{h.paragraph}", f"¶{h.paragraph}", h.paragraph,
                                  h.section, h.text, round(h.score, 4)) for h in closest)
        return Answer(not_in_case_message(case.info.title, [], pointers), True, (), case.case_id, NAME,
                      see_also=pointers)

    def _select(self, scored: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence, and the next best when it is nearly as likely and the answer stays
        short."""
        best = scored[0]
        chosen = [best]
        words = len(best.text.split())
        for candidate in scored[1:MAX_SENTENCES]:
            if candidate.probability < self.second_share * best.probability \
                    or words + len(candidate.text.split()) > self.max_words \
                    or candidate.text in {c.text for c in chosen}:
                break
            chosen.append(candidate)
            words += len(candidate.text.split())
        return chosen

    def _with_context(self, case: LoadedCase, chosen: list[ScoredSentence]) -> list[ScoredSentence]:
        """The best sentence with the one it leans on in its paragraph ("Chinese consumers ..."
        before "They demanded ..."), when the answer stays short; the second choice makes room."""
        best = chosen[0]
        previous = case.leans_on(best.row)
        if previous is None or case.paragraph_of(previous) != best.paragraph \
                or any(c.row == previous for c in chosen):
            return chosen
        context = ScoredSentence(previous, best.paragraph, case.texts[previous], 0.0)
        result = [context, best]
        words = sum(len(s.text.split()) for s in result)
        if words > self.max_words:
            return chosen
        for other in chosen[1:]:
            if words + len(other.text.split()) <= self.max_words:
                result.append(other)
                words += len(other.text.split())
        return result

    @staticmethod
    def _list_items(case: LoadedCase, row: int) -> list[int]:
        """The opening sentences of the items of the list ("First, ...", "Second, ...") that
        sentence `row` belongs to, in order; [] when it belongs to none."""
        head: int | None = row
        while head is not None and not _ORDINAL_OPENING.match(case.texts[head]):
            previous = case.previous_sentence(head)
            same = previous is not None and case.paragraph_of(previous) == case.paragraph_of(row)
            head = previous if same else None
        if head is None:
            return []
        section = [head]
        while (before := case.previous_sentence(section[0])) is not None:
            section.insert(0, before)
        while (after := case.next_sentence(section[-1])) is not None:
            section.append(after)
        openings = {r: m.group(1).lower() for r in section if (m := _ORDINAL_OPENING.match(case.texts[r]))}
        position = ORDINALS.index(openings[head])
        items = [head]
        for rank in range(position - 1, -1, -1):  # earlier items, back to "First"
            found = [r for r in section if r < items[0] and openings.get(r) == ORDINALS[rank]]
            if not found:
                return []
            items.insert(0, found[-1])
        for rank in range(position + 1, len(ORDINALS)):
            found = [r for r in section if r > items[-1] and openings.get(r) == ORDINALS[rank]]
            if not found:
                break
            items.append(found[0])
        return items if len(items) > 1 else []

    def _with_enumeration(self, evidence: Evidence, chosen: list[ScoredSentence]) -> list[ScoredSentence]:
        """When the best sentence belongs to a list ("First, it was ...", "Second, it provided
        ..."), the answer gives the list's items in order, unless the question asks for one item."""
        case = evidence.case
        if asked_ordinal(evidence.question) or not asks_for_several(evidence.question):
            return chosen
        items = self._list_items(case, chosen[0].row)[:MAX_SENTENCES]
        if not items:
            return chosen
        picked = [next((c for c in chosen if c.row == r), None)
                  or ScoredSentence(r, case.paragraph_of(r), case.texts[r], 0.0) for r in items]
        return picked + [c for c in chosen if c.row not in items][:MAX_SENTENCES - len(picked)]

    @staticmethod
    def answer_pattern(question: str, query: str) -> re.Pattern[str] | None:
        """What a sentence holding the answer looks like, for the kinds of answer the case must
        state outright (a date, an amount, a count); retrieval favours such sentences."""
        wanted = expected_type(question) or expected_type(query)
        return ANSWER_PATTERNS[wanted] if wanted in _STRICT_TYPES else None

    def related_texts(self, question: str, query: str, case: LoadedCase) -> list[str]:
        """Texts this answerer will encode for a question (its parts and its content words, for
        coverage by meaning), so the chain encodes them in the same batch as the query."""
        texts = [question, *split_question(question), *question_words(question)]
        return [text for text in texts if text]
