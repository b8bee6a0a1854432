"""The extractive answerer: answers with the case's own sentences, never with new words of fact.

It scores the sentences of the retrieved paragraphs by meaning (cosine similarity of the sentence
and of its paragraph to the question), by coverage of the question's terms (weighted by how rare
they are in the case, with the neighbouring sentences as context; a word the case never uses
stands for the case's word nearest to it in meaning) and by whether they hold the
kind of answer the question asks for (a date, an amount, a name). From that evidence it decides
whether the case answers at all (or from the case reader's probabilities for the best sentences,
when the models file says so: bot/answerers/reader.py), then composes one to three sentences,
each followed by the marker of the paragraph it comes from.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.answer import Answer, Evidence
from bot.answerers.abstention import declined, is_title, not_covered
from bot.answerers.config import HAND_SET
from bot.answerers.learned import (
    DECISION_CANDIDATES,
    SHIPPED_MODELS,
    LearnedModels,
    decision_features,
    load_models,
    reader_features,
)
from bot.answerers.reader import READER_FILE, CaseReader, read_question
from bot.lang.case_vocabulary import case_word_share
from bot.lang.english import (
    ANSWER_TYPES,
    GENERIC_COUNTED,
    MEASURE_TERMS,
    NUMBER,
    OPTIONAL_TYPES,
    ORDINAL_OPENING,
    ORDINALS,
    STRICT_TYPES,
    SYNTHESIS,
    asked_ordinal,
    asks_for_several,
    counted_noun,
    counts_something,
    expected_type,
    focus_words,
    holds_answer,
    known_name,
    names_in,
    root_index,
    spelt_out,
    word_forms,
)
from bot.lang.numbers import ORDINAL_SUFFIXES, spelt_numbers
from bot.rag.citations import build_citations, marker, place_markers
from bot.rag.guard import looks_like_injection
from vectorstore.analysis import NEAR_WORD_SIMILARITY
from vectorstore.store import LoadedCase
from vectorstore.text import CONNECTIVE, STOPWORDS, content_terms, stem, tokens

NAME = "extractive"


@dataclass(frozen=True)
class ScoredSentence:
    """A candidate sentence with the evidence for it."""

    row: int
    paragraph: int
    text: str
    similarity: float
    coverage: float
    typed: int
    score: float
    features: tuple[float, ...] = ()
    # Added for what a chosen sentence leans on or goes on into, not chosen on its own evidence.
    context: bool = False
    # Its similarity to the question read with the sentence it leans on ("They wanted better
    # software" means little without "The buyers ..."): what the decision to answer reads.
    leaned: float = 0.0


@dataclass(frozen=True)
class Signals:
    """What the decision to answer reads about the question besides its candidates' evidence."""

    unknown_specifics: bool
    unplaced_names: bool
    counts: bool
    unknown_focus: bool
    top_hit: float
    lexical: float


def with_marker(sentence: str, paragraph: int) -> str:
    """The sentence with its paragraph marker placed before the closing full stop."""
    return place_markers(sentence, marker(paragraph))


def without_connective(sentence: str) -> str:
    """The sentence without an opening connective ("But", "However,") that would join it to a
    sentence the answer does not show: "However, sales fell." reads "Sales fell." """
    match = CONNECTIVE.match(sentence)
    if match is None or match.end() >= len(sentence):
        return sentence
    rest = sentence[match.end():]
    return rest[0].upper() + rest[1:]


def in_reading_order(chosen: list[ScoredSentence]) -> list[ScoredSentence]:
    """The sentences with those of one paragraph together; paragraphs keep the order of their best
    sentence. Within a paragraph the first sentence chosen on its own evidence keeps its place
    after the context it leans on, and the rest follow it in the order the case has them: the
    answer opens with what answers the question, never with a nearby sentence that only scored
    nearly as well ("On July 26 the companies made an announcement." before the one stating the
    sum asked for)."""
    order = list(dict.fromkeys(s.paragraph for s in chosen))
    result = []
    for paragraph in order:
        members = [s for s in chosen if s.paragraph == paragraph]
        lead = next((i for i, s in enumerate(members) if not s.context), 0)
        result += members[:lead + 1] + sorted(members[lead + 1:], key=lambda s: s.row)
    return result


def compose(chosen: list[ScoredSentence]) -> str:
    """The answer text: the sentences by paragraph, each paragraph's sentences ending in its one
    marker (DESIGN.md: one citation per marker; two markers of one paragraph would only repeat)."""
    chosen = in_reading_order(chosen)
    pieces = []
    for index, sentence in enumerate(chosen):
        following = chosen[index + 1] if index + 1 < len(chosen) else None
        text = sentence.text.strip()
        if index == 0 or not (chosen[index - 1].paragraph == sentence.paragraph
                              and chosen[index - 1].row == sentence.row - 1):
            text = without_connective(text)
        same_paragraph = following is not None and following.paragraph == sentence.paragraph
        pieces.append(text if same_paragraph else with_marker(text, sentence.paragraph))
    return " ".join(pieces)


def _asked(question: str) -> str:
    """The question itself, up to its last question mark: a stray fragment after it ("...? 28")
    is not part of what is asked."""
    return question.rsplit("?", 1)[0] if "?" in question else question


def _term(word: str) -> str:
    """The term a name or number of a question is indexed under ("Tesla's" → "tesla"), or "" for
    a small word."""
    token = tokens(word)
    return stem(token[0]) if token and token[0] not in STOPWORDS else ""


def _figure_about(sentence: str, terms: frozenset[str]) -> bool:
    """Whether an amount the sentence states has one of `terms` within a few words of it: "$700
    million for a stake" is about the stake, not about the price of a car the question asks."""
    for match in ANSWER_TYPES["amount"].finditer(sentence):
        before, after = tokens(sentence[:match.start()]), tokens(sentence[match.end():])
        # The figure's own words count too: an exhibit row's "Revenue 1,912" is one amount.
        near = before[-HAND_SET.figure_window:] + tokens(match.group()) + after[:HAND_SET.figure_window]
        if any(stem(word) in terms for word in near):
            return True
    return False


def _name_terms(case: LoadedCase) -> frozenset[str]:
    """The terms of the words the case writes as names (capitalised inside a sentence)."""
    return frozenset(term for name in case.name_runs if " " not in name for term in content_terms(name))


def _lexical(evidence: Evidence) -> float:
    """The share of the question's terms the case uses."""
    terms = set(content_terms(evidence.question))
    return len(terms & evidence.case.vocabulary) / len(terms) if terms else 0.0


def _unfamiliar_words(question: str, case: LoadedCase) -> list[str]:
    """The question's words that the case never uses in any form."""
    return [word for word in dict.fromkeys(tokens(question))
            if word.isalpha() and word not in STOPWORDS and stem(word) not in case.vocabulary]


def _context_sentence(case: LoadedCase, row: int, paragraph: int) -> ScoredSentence:
    """A sentence added for context rather than chosen on its own evidence."""
    return ScoredSentence(row, paragraph, case.texts[row], 0.0, 0.0, 0, 0.0, context=True)


class ExtractiveAnswerer:
    """Deterministic answers built from the case's own sentences, with paragraph markers."""

    name = NAME

    def __init__(self, known_word_similarity: float = NEAR_WORD_SIMILARITY,
                 models: Path | LearnedModels = SHIPPED_MODELS, reader: CaseReader | None = None) -> None:
        # The sentence scorer and the abstention decision (bot.answerers.learned); a file is read
        # on first use.
        self.models = models
        # The case reader, when the models use it (loaded on first use): by default the one
        # beside the models file.
        self.reader = reader or CaseReader(
            (models if isinstance(models, Path) else SHIPPED_MODELS).parent / READER_FILE)
        self.known_word_similarity = known_word_similarity
        # Each case version's words by root (see `_forms`), built on its first question.
        self._root_indexes: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def learned(self) -> LearnedModels:
        """The sentence scorer and the abstention decision (a file is read on first use)."""
        return self.models if isinstance(self.models, LearnedModels) else load_models(self.models)

    def warm_up(self) -> None:
        """Read the learned models (and the case reader they use) now rather than on the first
        question."""
        if self.learned().reader:
            self.reader.warm_up()

    @staticmethod
    def guiding_question(evidence: Evidence, paragraphs: list[int]) -> str:
        """None of its own: bot.teaching asks with the case's words."""
        return ""

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        """The answer text as one piece (it is built whole: nothing comes sooner word by word),
        then the Answer."""
        answer = self.answer(evidence)
        yield answer.answer
        yield answer

    def answer(self, evidence: Evidence) -> Answer:
        """Answer from the evidence, or abstain when it does not answer the question."""
        if looks_like_injection(evidence.question):
            return declined(evidence, NAME)
        scored = self.score(evidence)
        signals = self.signals(evidence, scored)
        scored = self.wanted_first(scored, bool(self.wanted_type(evidence) in STRICT_TYPES))
        read = [] if self.ruled_out(signals, scored) else self.read(evidence, scored)
        if not self.decide(signals, scored, read):
            return not_covered(evidence, NAME)
        chosen = self.select(scored, synthesis=bool(SYNTHESIS.search(evidence.question)))
        chosen = self._with_enumeration(evidence, chosen)
        chosen = self._with_context(evidence, chosen)
        text = compose(chosen)
        return Answer(text, False, build_citations(text, evidence.case.case_id, evidence.sources),
                      evidence.case.case_id, NAME)

    def signals(self, evidence: Evidence, scored: list[ScoredSentence]) -> Signals:
        """What the decision to answer reads about the question (see `decide`)."""
        return Signals(bool(self._unknown_specifics(evidence)),
                       bool(self._unplaced_names(evidence, scored)),
                       bool(counted_noun(evidence.question)),
                       bool(self._unknown_focus(evidence)),
                       evidence.hits[0].score if evidence.hits else 0.0,
                       _lexical(evidence))

    def read(self, evidence: Evidence, scored: list[ScoredSentence]) -> list[float]:
        """The case reader's probability that each of the best candidates (in rank order) answers
        the question, when the decision reads it (else nothing is read)."""
        if not self.learned().reader:
            return []
        return self.reader.probabilities(read_question(evidence.question, evidence.history),
                                         [s.text for s in scored[:DECISION_CANDIDATES]])

    def decide(self, signals: Signals, scored: list[ScoredSentence], read: Sequence[float]) -> bool:
        """Whether the best sentences (in rank order) answer the question: no rule declines it
        (`ruled_out`) and the evidence for the best candidates is strong enough (the abstention
        model reads it: their evidence features, or the case reader's probabilities `read`)."""
        if self.ruled_out(signals, scored):
            return False
        models = self.learned()
        top = scored[:DECISION_CANDIDATES]
        if models.reader:
            return models.abstention.answers(reader_features(read))
        return models.abstention.answers(decision_features(
            [s.features for s in top], [s.leaned for s in top], signals.top_hit, signals.lexical))

    @staticmethod
    def ruled_out(signals: Signals, scored: list[ScoredSentence]) -> bool:
        """Whether the rules decline the question, however strong the evidence:

        - a name or number the question uses that the case never mentions (nor abbreviates or
          misspells) means the question is about something else;
        - so does a name the case mentions only here and there when no retrieved paragraph
          mentions it;
        - a question counting something needs a sentence giving a number of it;
        - a question whose topic words have nothing near them in the case is not about it.
        """
        return signals.unknown_specifics or not scored or signals.unplaced_names \
            or (signals.counts and all(s.typed <= 0 for s in scored)) \
            or (signals.unknown_focus and scored[0].typed <= 0)

    @staticmethod
    def _unknown_specifics(evidence: Evidence) -> list[str]:
        """Names and numbers of the question that the case never mentions (a name it abbreviates,
        misspells or writes out in full counts as mentioned: "JV" for "joint venture"; so does a
        number it has as an ordinal, "the 43 Annual Grammy Awards" for "the 43rd", or in words,
        "three options" for "the 3 options").

        Only the question itself is read, up to its last question mark.
        """
        case = evidence.case
        asked = _asked(evidence.question)
        # The end of a range cut short ("the 2013-4 season" for the case's "2013–14") is not
        # checked; the full end of one ("$80-85 million") is.
        numbers = []
        for start, end in re.findall(r"(?:\b(\d+)[-–])?\b(\d[\d.,]*)\b", asked):
            numbers += [start] if start else []
            numbers += [end] if len(end) >= len(start) else []
        specifics = names_in(asked) + numbers
        unknown = [word for word in dict.fromkeys(specifics)
                   if (term := _term(word)) and term not in case.vocabulary
                   and not any(term + suffix in case.vocabulary for suffix in ORDINAL_SUFFIXES)
                   and not any(_term(spelt) in case.vocabulary for spelt in spelt_numbers(word))]
        # Only a name the case never spells is compared with all of its names (the slow part).
        return [word for word in unknown if word[0].isdigit() or not (
            known_name(word, case.name_runs)
            or spelt_out(word, (case.texts[row] for row in case.sentence_rows)))]

    @staticmethod
    def _unplaced_names(evidence: Evidence, scored: list[ScoredSentence]) -> list[str]:
        """The question's rare names (terms of fewer than a tenth of the case's paragraphs) when no
        candidate's paragraph mentions them all.

        "Who founded the Basel office?" over a case that names Basel once: when retrieval brought
        back paragraphs about other offices, their best sentence answers a question nobody asked.
        Names the whole case uses ("Acme") do not place anything and are not checked.
        """
        case = evidence.case
        rare = [term for word in dict.fromkeys(names_in(_asked(evidence.question)))
                if (term := _term(word)) and 0 < case.paragraph_share(term) < HAND_SET.placing_share]
        placed = any(all(term in case.paragraph_terms[s.paragraph] for term in rare) for s in scored)
        return [] if placed else rare

    def _unknown_focus(self, evidence: Evidence) -> list[str]:
        """The question's topic words (the first ones after its question word, names aside)
        when the case has none of them (a slipped spelling, "compalin", was corrected before:
        `bot.lang.english.with_slips_corrected`).

        "What was the firm's revenue?" asks about revenue: when no word of the case comes close to
        it in meaning, the case cannot answer, however well the rest of the question matches. That
        holds for words business cases commonly use (`bot.lang.case_vocabulary`): "What was the
        catch in the offer?" or "What did the boss say?" are answered in the case's own words.
        Questions asking why have no such single topic.
        """
        focus = focus_words(evidence.question)
        # The absence of words business cases seldom use says nothing about what this one covers:
        # without a common one among them, no word needs looking up.
        if not any(case_word_share(w) >= HAND_SET.common_word_share for w in focus):
            return []
        case = evidence.case
        unknown = [w for w in focus if stem(w) not in case.vocabulary and not self._forms(w, case)
                   and case.nearest_word(w, evidence.embeddings)[1] < self.known_word_similarity]
        # One familiar word is enough to keep the question on the case's ground.
        return unknown if len(unknown) == len(focus) else []

    @staticmethod
    def wanted_type(evidence: Evidence) -> str | None:
        """The kind of answer asked for; an elliptical follow-up ("And the rival?") asks for what
        the earlier question asked."""
        return expected_type(evidence.question) or expected_type(evidence.query)

    def wanted_first(self, scored: list[ScoredSentence], strict: bool) -> list[ScoredSentence]:
        """For a question asking for a date, amount, count or age (`strict`): the candidates with
        the best of the first few that states one (and scores nearly as well as the best) moved
        first, or [] when none of them does (when the sentences that best match "In what year will
        the cars launch?" name no year, the case does not say)."""
        if not strict or not scored:
            return scored
        cutoff = self.learned().scorer.cutoff * scored[0].score
        typed = next((s for s in scored[:HAND_SET.typed_reach] if s.typed > 0 and s.score >= cutoff), None)
        if typed is None:
            return []
        return [typed, *(s for s in scored if s is not typed)]

    def _weights(self, evidence: Evidence) -> dict[str, float]:
        """Query terms found in the case, weighted by rarity; history terms count half, and so
        does the case's word nearest in meaning to a word of the question the case never uses
        (a question's "carmaker" reads the case's "automakers", "firms" its "companies"): students
        paraphrase."""
        case = evidence.case
        index = case.sentence_index
        own = set(content_terms(evidence.question))
        weights = {}
        for term in content_terms(evidence.query):
            if term in case.vocabulary:
                weights[term] = index.idf_of(term) * (1.0 if term in own else HAND_SET.borrowed_term)
        for word in _unfamiliar_words(evidence.question, case):
            near, similarity = case.nearest_word(word, evidence.embeddings)
            related = self._forms(word, case) + ([near] if similarity >= self.known_word_similarity else [])
            for term in map(stem, related):
                if term in case.vocabulary and term not in weights:
                    weights[term] = index.idf_of(term) * HAND_SET.borrowed_term
        return weights

    def _forms(self, word: str, case: LoadedCase) -> list[str]:
        """The case's words derived from the same root as `word`, or from the roots of its two
        parts ("founder": "founded"; "carmaking": "car", "maker"): other forms of the word the
        question uses, which stemming leaves apart."""
        key = case.info.collection
        with self._lock:
            index = self._root_indexes.get(key)
        if index is None:
            index = root_index(case.words)
            with self._lock:
                self._root_indexes[key] = index
        return word_forms(word, index)

    def _counts(self, sentence: str, noun: str, evidence: Evidence) -> bool:
        """Whether a sentence gives a number of `noun` (or of something close in meaning):
        "How many plants" is answered by "three new ... plants", not by "$5 million". A noun
        that names no kind ("people", "times") is answered by a count of any kind."""
        if noun in GENERIC_COUNTED:
            return counts_something(sentence)
        words = tokens(sentence)
        for index, word in enumerate(words):
            if not re.fullmatch(NUMBER, word):
                continue
            for counted in words[index + 1:index + 1 + HAND_SET.count_window]:
                if stem(counted) == stem(noun):
                    return True
                if counted.isalpha() and counted not in STOPWORDS and evidence.embeddings is not None:
                    similarity = float(evidence.embeddings.encode_query(counted)
                                       @ evidence.embeddings.encode_query(noun))
                    if similarity >= self.known_word_similarity:
                        return True
        return False

    @staticmethod
    def _topic_text(query: str, case: LoadedCase) -> str | None:
        """The question without the names the whole case is about ("Acme", "Globex").

        Every sentence mentioning those names resembles every question that does; matching the
        rest of the question finds the sentence about what is actually asked.
        """
        words = [w for w in query.split() if not (set(content_terms(w)) & case.subject_names)]
        if len(words) == len(query.split()) or not content_terms(" ".join(words)):
            return None
        return " ".join(words)

    @staticmethod
    def answer_pattern(question: str, query: str) -> re.Pattern[str] | None:
        """What a sentence holding the answer looks like, for the kinds of answer the case must
        state outright (a date, an amount, a count, an age); retrieval favours such sentences."""
        wanted = expected_type(question) or expected_type(query)
        return ANSWER_TYPES[wanted] if wanted in STRICT_TYPES else None

    def related_texts(self, question: str, query: str, case: LoadedCase) -> list[str]:
        """Texts this answerer will encode for a question, so the chain can encode them in the
        same batch as the retrieval query."""
        texts = [question, *focus_words(question), *_unfamiliar_words(question, case),
                 self._topic_text(query, case) or "", counted_noun(question)]
        return [text for text in texts if text]

    def score(self, evidence: Evidence) -> list[ScoredSentence]:
        """Every sentence of the retrieved paragraphs with its evidence, best first by the
        sentence scorer (learned, or the hand-set weights)."""
        case = evidence.case
        weights = self._weights(evidence)
        total = sum(weights.values()) or 1.0
        wanted = self.wanted_type(evidence)
        asked = frozenset(content_terms(evidence.query))
        paragraph_sim: dict[int, float] = {}
        for row in case.passage_rows:
            number = case.paragraph_of(row)
            sim = float(case.vectors[row] @ evidence.query_vector)
            paragraph_sim[number] = max(paragraph_sim.get(number, -1.0), sim)
        question_terms = set(content_terms(evidence.question))
        # Trust word overlap as much as the question uses the case's own words.
        lexical = _lexical(evidence)
        counted_word = counted_noun(evidence.question)
        # What an amount must be about, when the question names a kind of money (a price, a
        # cost, revenue) that a case may give for one thing and not another: the question's words
        # and their nearest words in the case, less names ("What does an Acme car cost?" is about
        # cars; every figure of a case about Acme stands near its name). The kind of money asked
        # for is never a name, even where the case capitalises it (an exhibit's "Revenue" column).
        topic_terms: frozenset[str] = frozenset()
        if question_terms & MEASURE_TERMS:
            topic_terms = frozenset(weights) - ((case.subject_names | _name_terms(case)) - MEASURE_TERMS)
        topic_text = self._topic_text(evidence.query, case)
        topic = evidence.embeddings.encode_query(topic_text) if topic_text else None
        ordinal = asked_ordinal(evidence.question)
        question_vector = evidence.query_vector
        if evidence.query != evidence.question:
            # The follow-up itself counts more than the earlier question it leans on.
            blend = 2 * evidence.embeddings.encode_query(evidence.question) + evidence.query_vector
            question_vector = blend / np.linalg.norm(blend)
        scorer = self.learned().scorer
        scored = []
        for hit in evidence.hits:
            if is_title(evidence, hit.paragraph):
                continue
            rows = case.sentences_of(hit.paragraph)
            sims = case.vectors[rows] @ question_vector
            if topic is not None:
                sims = (sims + case.vectors[rows] @ topic) / 2
            for index, row in enumerate(rows):
                inherited = self._inherited_terms(case, row)
                context = case.terms[row].union(*(case.terms[r] for r in self._neighbours(case, row)))
                own = sum(w if t in case.terms[row] else w / 2 if t in inherited else 0.0
                          for t, w in weights.items()) / total
                near = sum(w for t, w in weights.items() if t in context) / total
                typed = 0
                if wanted is not None:
                    typed = 1 if holds_answer(wanted, case.texts[row], asked) \
                        else 0 if wanted in OPTIONAL_TYPES else -1
                if typed > 0 and counted_word and not self._counts(case.texts[row], counted_word, evidence):
                    typed = -1
                if typed > 0 and wanted == "amount" and topic_terms \
                        and not _figure_about(case.texts[row], topic_terms):
                    typed = -1
                if ordinal is not None:
                    # "What was the second benefit?" asks for the list item opening "Second, ...".
                    opening = ORDINAL_OPENING.match(case.texts[row])
                    typed += 1 if opening is not None and opening.group(1).lower() == ordinal else 0
                sim = float(sims[index])
                new_terms = len(case.terms[row] - question_terms)
                features = (sim, paragraph_sim.get(hit.paragraph, 0.0),
                            lexical * own + (1 - lexical) * sim, lexical * near + (1 - lexical) * sim,
                            float(typed), min(new_terms, HAND_SET.new_terms) / HAND_SET.new_terms)
                previous = case.leans_on(row)
                leaned = sim if previous is None else \
                    max(sim, float(case.vectors[previous] @ evidence.query_vector))
                scored.append(ScoredSentence(row, hit.paragraph, case.texts[row], sim, own, typed,
                                             scorer.score(features), features, leaned=leaned))
        return sorted(scored, key=lambda s: -s.score)

    @staticmethod
    def _inherited_terms(case: LoadedCase, row: int) -> frozenset[str]:
        """What a sentence that leans on the one before it ("They wanted ...") speaks of through
        that sentence; they count half as much as its own words."""
        previous = case.leans_on(row)
        return case.terms[previous] if previous is not None else frozenset()

    @staticmethod
    def _neighbours(case: LoadedCase, row: int) -> list[int]:
        """The sentences read just before and just after sentence `row`, within its section."""
        return [r for r in (case.previous_sentence(row), case.next_sentence(row)) if r is not None]

    @staticmethod
    def _with_context(evidence: Evidence, chosen: list[ScoredSentence]) -> list[ScoredSentence]:
        """Give the chosen sentences what they lean on: the sentence before the best one in its
        paragraph when it opens with a pronoun ("They wanted ...") or refers back ("faced the
        opposite problem"), placed before it, and the sentence after a short one that the next
        goes on from ("They needed a partner."). A later sentence comes with the one it leans on
        when both fit, and is otherwise left out: alone, it says nothing a student can place. At
        most three sentences."""
        case = evidence.case
        remaining = list(chosen)
        result: list[ScoredSentence] = []
        while remaining:
            sentence = remaining.pop(0)
            previous = case.leans_on(sentence.row)
            if previous is not None and case.paragraph_of(previous) == sentence.paragraph \
                    and all(r.row != previous for r in result):
                earlier = [r for r in remaining if r.row == previous]
                # A list item ("Second, it ...") reads after the items shown with it; any other
                # sentence comes with the one it leans on while the answer has room for both.
                full = len(result) + 2 > HAND_SET.max_sentences
                if not earlier and full and not ORDINAL_OPENING.match(sentence.text):
                    continue
                remaining = [r for r in remaining if r.row != previous]
                result.append(earlier[0] if earlier else
                              _context_sentence(case, previous, sentence.paragraph))
            result.append(sentence)
            following = case.next_sentence(sentence.row)
            if following is not None and all(r.row != following for r in result + remaining) \
                    and case.paragraph_of(following) == sentence.paragraph \
                    and len(sentence.text.split()) < HAND_SET.intro_words \
                    and case.leans_on(following) == sentence.row:
                result.append(_context_sentence(case, following, sentence.paragraph))
        return result[:HAND_SET.max_sentences]

    @staticmethod
    def _list_items(case: LoadedCase, row: int) -> list[int]:
        """The opening sentences of the items of the list ("First, ...", "Second, ...") that
        sentence `row` belongs to, in order; [] when it belongs to none."""
        head: int | None = row
        while head is not None and not ORDINAL_OPENING.match(case.texts[head]):
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
        openings = {r: m.group(1).lower() for r in section if (m := ORDINAL_OPENING.match(case.texts[r]))}
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
        items = self._list_items(case, chosen[0].row)[:HAND_SET.max_sentences]
        if not items:
            return chosen
        picked = [next((c for c in chosen if c.row == r), None)
                  or _context_sentence(case, r, case.paragraph_of(r)) for r in items]
        return picked + [c for c in chosen if c.row not in items]

    def select(self, scored: list[ScoredSentence], synthesis: bool) -> list[ScoredSentence]:
        """The best sentence, plus up to two that are nearly as good, add something and keep the
        answer short."""
        best = scored[0]
        chosen = [best]
        reach = HAND_SET.synthesis_reach if synthesis else 0.0
        cutoff = (self.learned().scorer.cutoff - reach) * best.score
        for candidate in scored[1:]:
            if len(chosen) == HAND_SET.max_sentences or candidate.score < cutoff:
                break
            if candidate.text in {c.text for c in chosen}:
                continue
            if synthesis and candidate.paragraph in {c.paragraph for c in chosen}:
                continue
            if sum(len(c.text.split()) for c in [*chosen, candidate]) > HAND_SET.answer_words:
                continue  # students read short answers; the best sentence always stays
            chosen.append(candidate)
        return chosen
