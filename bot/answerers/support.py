"""Citation enforcement for generated answers: keep only sentences the paragraphs sent support.

A language model may cite paragraphs it was never shown, cite the wrong one, or state things the
case never says. Each sentence of a generated answer is checked against the paragraphs it cites
(or, when it cites none that were sent, against every paragraph sent): every name in it must have
been shown, every number (in figures or words: "four", "$0.7 billion", "a third") must be a value
the paragraphs state, and its content words must overlap the paragraph's (a word close in meaning
to one of the paragraph's counts half), or overlap partly and mean nearly the same as one of the
paragraph's sentences (cosine similarity of the bundled sentence embeddings). A sentence that
passes is still unsupported when it reverses who did what to whom relative to its closest source
sentence (`bot.answerers.claims.swapped_roles`). A sentence opening with a pronoun ("It would
invest ...") is checked with the pronoun replaced by the subject of the answer's previous sentence.
Sentences that pass keep (or gain) their markers; the others are set aside as unsupported.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from bot.answer import Evidence
from bot.answerers.claims import (
    opening_pronoun,
    resolve_opening_pronoun,
    strip_connective,
    swapped_roles,
    unsupported_quantities,
)
from bot.lang.numbers import NUMBER_WORDS
from bot.rag.citations import MARKER, cited_numbers, enforce_markers, place_markers
from vectorstore.text import STOPWORDS, sentences, stem, tokens

Encoder = Callable[[str], np.ndarray]

# A sentence that says the case is silent, e.g. "The case doesn't say." or "The paragraphs do not
# mention the price."
_ABSENCE = re.compile(
    r"\b(case|paragraphs?|text|context|sources?|passages?)\b.{0,40}?\b(doesn'?t|does not|don'?t|do not|"
    r"never|cannot|can't|fails? to)\b.{0,25}?\b(say|state|mention|specify|provide|answer|contain|"
    r"discuss|include|address|cover|give|tell|indicate)"
    r"|\bnot (mentioned|stated|specified|provided|given|covered|discussed) in\b"
    r"|\bno (information|mention|details?)\b",
    re.IGNORECASE,
)
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"\b[A-Z][A-Za-z'’-]*[A-Za-z]")
_BULLET = re.compile(r"^\s*(?:[-*•]|\d{1,2}[.)])\s+")
_LABEL = re.compile(r"^(?:the\s+)?(?:answer|response|reply)\s*:\s*", re.IGNORECASE)
_LEADING_MARKERS = re.compile(r"^\s*((?:" + MARKER.pattern + r"\s*)+)")
# A claim's word that its source lacks still counts as the source's when it is this close in
# meaning to one of the source's words ("buyers" and "buying", "cash" and "financially").
# Such a word is weaker evidence than the word itself: it counts half.
NEAR_WORD = 0.6
NEAR_WEIGHT = 0.5


@dataclass(frozen=True)
class Support:
    """How well one paragraph supports one claim."""

    paragraph: int
    overlap: float
    similarity: float
    missing: tuple[str, ...]
    supported: bool


@dataclass(frozen=True)
class Enforced:
    """A generated answer after enforcement."""

    text: str
    unsupported: tuple[str, ...]
    said_absent: bool
    # For each kept sentence, the case sentence closest to it in the paragraphs that support it:
    # (paragraph, sentence verbatim), what a citation quotes for highlighting.
    support: tuple[tuple[int, str], ...] = ()

    @property
    def abstained(self) -> bool:
        """True when no supported sentence is left."""
        return not self.text


def _key(token: str) -> str:
    """A comparison key: possessive dropped, lightly stemmed, plural `s` dropped."""
    token = token.removesuffix("'s").removesuffix("’s").replace(",", "")
    return stem(token).rstrip("s") or token


def key_terms(text: str) -> list[str]:
    """Comparison keys of the content words of `text` (stopwords left out)."""
    return [_key(t) for t in tokens(text) if t not in STOPWORDS and t.removesuffix("'s") not in STOPWORDS]


def specifics(sentence: str) -> list[str]:
    """Numbers and names in a sentence: facts that must occur verbatim in a supporting paragraph."""
    found = [number.replace(",", "") for number in _NUMBER.findall(sentence)]
    words = _CAPITALISED.findall(sentence)
    for index, word in enumerate(words):
        first = index == 0 and sentence.lstrip().startswith(word)
        if first or word.lower() in STOPWORDS or len(word) < 2:
            continue
        found.append(word)
    return list(dict.fromkeys(found))


def is_absence(sentence: str) -> bool:
    """Whether a sentence says that the case does not answer."""
    return bool(_ABSENCE.search(sentence))


def split_claims(text: str) -> list[str]:
    """The sentences of a generated answer, each with the markers that belong to it.

    Markers a model puts after the full stop ("... stake. [¶12]") are moved back to their sentence.
    """
    claims: list[str] = []
    for line in text.replace("**", "").splitlines():
        line = _BULLET.sub("", line).strip()
        for sentence in sentences(line):
            leading = _LEADING_MARKERS.match(sentence)
            if leading and claims:
                claims[-1] = place_markers(claims[-1], leading.group(1).strip())
                sentence = sentence[leading.end():].strip()
            if sentence:
                claims.append(sentence)
    return claims


def strip_markers(sentence: str) -> str:
    """The sentence without any markers."""
    return enforce_markers(sentence, set())


class SupportChecker:
    """Judges whether retrieved paragraphs support generated sentences."""

    def __init__(self, evidence: Evidence, encode: Encoder | None = None, min_overlap: float = 0.6,
                 similar: float = 0.45, partial_overlap: float = 0.4, very_similar: float = 0.7) -> None:
        self.evidence = evidence
        self.encode = encode
        self.min_overlap = min_overlap
        self.similar = similar
        self.partial_overlap = partial_overlap
        self.very_similar = very_similar
        case = evidence.case
        # Names the model was shown (the title and every retrieved paragraph) are not invented.
        self._shown = {_key(t) for t in tokens(" ".join([case.info.title,
                                                         *(h.text for h in evidence.hits)]))}
        self._keys: dict[int, set[str]] = {}
        self._word_index: dict[str, int] | None = None
        self._texts: dict[int, str] = {}
        self._rows: dict[int, list[int]] = {}
        sections: dict[str, list[int]] = {}
        for number, (section, _) in case.paragraphs.items():
            sections.setdefault(section, []).append(number)
        # A claim citing every paragraph of a section may count them ("the three takeaways").
        self._sections = [set(numbers) for numbers in sections.values() if len(numbers) > 1]
        for number, hit in evidence.sources.items():
            self._texts[number] = hit.text
            # The paragraph is shown under its section heading: the heading's words are its words.
            self._keys[number] = {_key(t) for t in tokens(f"{hit.text} {hit.section}")}
            self._rows[number] = [i for i, meta in enumerate(case.metadatas)
                                  if int(meta["paragraph"]) == number]

    def check(self, claim: str, paragraphs: Iterable[int]) -> Support:
        """How well the given paragraphs, taken together, support `claim` (a sentence without markers)."""
        numbers = [p for p in dict.fromkeys(paragraphs) if p in self._keys]
        keys = set().union(*(self._keys[p] for p in numbers)) if numbers else set()
        # Numbers are compared by value ("$0.7 billion" is "$700 million", "four" is 4).
        counts = [len(section) for section in self._sections if section <= set(numbers)]
        missing = tuple(s for s in specifics(claim) if not s[0].isdigit() and not self._mentions(s, keys)) \
            + tuple(unsupported_quantities(claim, (self._texts[p] for p in numbers), counts))
        # Number words are checked by value above, not as words.
        # A leading connective ("In return, ...") links sentences and claims nothing.
        words = {_key(t): t for t in tokens(strip_connective(claim))
                 if t not in STOPWORDS and t.removesuffix("'s") not in STOPWORDS and t not in NUMBER_WORDS}
        # Names are checked above (each must be shown); the overlap measures what the claim says
        # about them, so a claim naming a subject its source leaves implicit is not penalised.
        for name in specifics(claim):
            for part in tokens(name):
                words.pop(_key(part), None)
        terms = set(words)
        novel = [words[t] for t in terms - keys]
        # Words close in meaning are looked for only when they could change the outcome.
        matched = len(terms & keys)
        could_help = bool(terms) and matched / len(terms) < self.min_overlap and (
            matched + NEAR_WEIGHT * len(novel)) / len(terms) >= self.partial_overlap
        near = NEAR_WEIGHT * self._near(novel, numbers) if novel and not missing and could_help else 0
        overlap = (len(terms & keys) + near) / len(terms) if terms else 0.0
        similarity = self._similarity(claim, numbers) if terms and not missing else 0.0
        supported = bool(terms) and not missing and self._enough(overlap, similarity)
        if supported:
            # Every word may be in the source and the claim still reverse who did what to whom.
            reversed_words = self.reversed_roles(claim, numbers)
            if reversed_words:
                missing, supported = tuple(f"role of {w!r} reversed" for w in reversed_words), False
        return Support(numbers[0] if numbers else 0, overlap, similarity, missing, supported)

    def reversed_roles(self, claim: str, paragraphs: Iterable[int]) -> list[str]:
        """Words whose role the claim reverses relative to its closest sentence in `paragraphs`."""
        case = self.evidence.case
        terms = set(key_terms(claim))
        candidates = [case.texts[row] for p in paragraphs for row in case.sentences_of(p)]
        if not terms or not candidates:
            return []
        closest = max(candidates, key=lambda text: len(terms & set(key_terms(text))))
        return swapped_roles(claim, closest, STOPWORDS, _key)

    def best(self, claim: str) -> Support:
        """The retrieved paragraph that supports `claim` best (supported ones first)."""
        checks = [self.check(claim, [number]) for number in self._keys]
        if not checks:
            return Support(0, 0.0, 0.0, (), False)
        return max(checks, key=lambda s: (s.supported, not s.missing, s.overlap + s.similarity))

    def _enough(self, overlap: float, similarity: float) -> bool:
        """Content overlap backed by meaning; without an encoder, overlap alone."""
        if self.encode is None:
            return overlap >= self.min_overlap
        return ((overlap >= self.min_overlap and similarity >= self.similar)
                or (overlap >= self.partial_overlap and similarity >= self.very_similar))

    def _mentions(self, specific: str, keys: set[str]) -> bool:
        if specific[0].isdigit():
            return specific in keys or _key(specific) in keys
        parts = [_key(t) for t in tokens(specific)]
        return all(part in keys or part in self._shown for part in parts)

    def _near(self, words: list[str], paragraphs: list[int]) -> int:
        """How many of `words` are close in meaning to a word of the paragraphs (0 without an encoder)."""
        case = self.evidence.case
        if self.encode is None or not case.words:
            return 0
        if self._word_index is None:
            self._word_index = {word: i for i, word in enumerate(case.words)}
        rows = sorted({self._word_index[t] for p in paragraphs for t in tokens(self._texts[p])
                       if t in self._word_index})
        if not rows:
            return 0
        vectors = case.word_vectors(self.evidence.embeddings)[rows]
        return sum(1 for word in words if word.isalpha()
                   and float(np.max(vectors @ self.encode(word))) >= NEAR_WORD)

    def closest_sentence(self, claim: str, paragraphs: Iterable[int]) -> tuple[int, str] | None:
        """The case sentence of `paragraphs` closest in meaning to `claim`, with its paragraph;
        None without an encoder or sentences."""
        case = self.evidence.case
        rows = [row for p in dict.fromkeys(paragraphs) for row in case.sentences_of(p)]
        if self.encode is None or not rows:
            return None
        best = rows[int(np.argmax(case.vectors[rows] @ self.encode(claim)))]
        return case.paragraph_of(best), case.texts[best]

    def _similarity(self, claim: str, paragraphs: list[int]) -> float:
        rows = [row for p in paragraphs for row in self._rows.get(p, [])]
        if self.encode is None or not rows:
            return 0.0
        vector = self.encode(claim)
        return float(np.max(self.evidence.case.vectors[rows] @ vector))


def enforce(raw: str, evidence: Evidence, encode: Encoder | None = None) -> Enforced:
    """Keep the supported sentences of `raw` with valid markers; set the others aside."""
    allowed = set(evidence.sources)
    checker = SupportChecker(evidence, encode)
    kept: list[str] = []
    unsupported: list[str] = []
    support: list[tuple[int, str] | None] = []
    said_absent = False
    previous = ""
    for sentence in dict.fromkeys(split_claims(raw)):  # small models loop: repeats count once
        sentence = _LABEL.sub("", sentence)
        claim = strip_markers(sentence)
        # "It would invest ..." is checked as "<the previous sentence's subject> would invest ...".
        checked = resolve_opening_pronoun(claim, previous, STOPWORDS) \
            if previous and opening_pronoun(claim) else claim
        previous = claim
        if not claim or not key_terms(claim):
            continue  # bare markers or filler ("Sure!")
        if claim.endswith("?"):
            unsupported.append(claim)  # a question (often the student's, echoed) is no answer
            continue
        valid = [n for n in cited_numbers(sentence) if n in allowed]
        if not valid and is_absence(claim):
            said_absent = True
            continue
        if valid:
            if checker.check(checked, valid).supported or (
                    checked != claim and checker.check(claim, valid).supported):
                kept.append(enforce_markers(sentence, allowed))
                support.append(checker.closest_sentence(claim, valid))
            else:
                unsupported.append(claim)
            continue
        best = checker.best(checked)
        if best.supported:
            kept.append(place_markers(claim, f"[¶{best.paragraph}]"))
            support.append(checker.closest_sentence(claim, [best.paragraph]))
        else:
            unsupported.append(claim)
    return Enforced(" ".join(dict.fromkeys(kept)), tuple(dict.fromkeys(unsupported)), said_absent,
                    tuple(dict.fromkeys(found for found in support if found is not None)))
