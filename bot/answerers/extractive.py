"""The extractive answerer: answers with the case's own sentences, never with new words of fact.

It scores the sentences of the retrieved paragraphs by meaning (cosine similarity of the sentence
and of its paragraph to the question), by coverage of the question's terms (weighted by how rare
they are in the case, with the neighbouring sentences as context; a word the case never uses
stands for the case's word nearest to it in meaning) and by whether they hold the
kind of answer the question asks for (a date, an amount, a name). From that evidence it decides
whether the case answers at all, then composes one to three sentences, each followed by the
marker of the paragraph it comes from.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import astuple, dataclass, replace

import numpy as np

from bot.answer import Answer, Evidence
from bot.answerers.abstention import declined, is_title, not_covered
from bot.answerers.reader import SentenceReader
from bot.lang.english import (
    ANSWER_TYPES,
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
    expected_type,
    focus_words,
    holds_answer,
    known_name,
    names_in,
    root_index,
    word_forms,
)
from bot.lang.numbers import ORDINAL_SUFFIXES
from bot.rag.citations import build_citations, marker, place_markers
from bot.rag.guard import looks_like_injection
from vectorstore.analysis import NEAR_WORD_SIMILARITY
from vectorstore.store import LoadedCase
from vectorstore.text import CONNECTIVE, STOPWORDS, content_terms, stem, tokens

NAME = "extractive"
MAX_SENTENCES = 3
# The most words the sentences chosen on their own evidence may have together (context a sentence
# leans on comes on top): the largest budget that keeps answers at 50 words on average on the SQuAD
# articles (every unanswerable and 80 answerable questions of each): 70, 72, 74, 75 and 80 give
# facts 0.776, 0.780, 0.789, 0.794, 0.795 at 47.8, 48.7, 49.6, 50.05 and 51.2 words.
_ANSWER_WORDS = 74
_INTRO_WORDS = 15
_COUNT_WINDOW = 5
# A sentence telling this many words beyond the question's own counts as fully informative.
_NEW_TERMS = 8
# How many words either side of an amount say what it is an amount of ("revenue rose 12% to $4
# billion", "the $700 million investment"). TUNED below.
_FIGURE_WINDOW = 6
# What a term the question does not itself use counts in the word match, against 1 for its own: a
# term of the earlier question a follow-up leans on, or the case's word nearest to a word of the
# question that the case never uses.
_BORROWED_TERM = 0.5
# How far down the candidates a question asking for a date or a number looks for a sentence
# stating one: the best such sentence is rarely the best match overall.
_TYPED_REACH = 3
# A name the case mentions in fewer than this share of its paragraphs says where the answer is:
# when none of the retrieved paragraphs mentions it, they are about something else. Chosen on the
# SQuAD articles (docs/decisions/rare-name-check.md): 0.05 declines 0.167 of the
# unanswerable questions, 0.10 0.175, both at a false abstention of 0.041 (0.035 without the rule);
# 0.20 declines 0.187 at 0.045 and costs facts.
_PLACING_SHARE = 0.10
# The sentence reader reorders this many of the best candidates: their hand-set score plus this
# weight times the reader's score, standardised over them. Chosen on the SQuAD articles
# (docs/decisions/sentence-reader.md: trained on half of them, judged on the other half and on the
# bundled case): 0.05 and 0.1 put the answer sentence first most often on unseen articles, 0.1 also
# on the case; 0.2 and more lose on both.
_READ_CANDIDATES = 8
_READER_WEIGHT = 0.1


@dataclass(frozen=True)
class Weights:
    """How much each kind of evidence counts in a sentence's score."""

    similarity: float = 0.35
    paragraph: float = 0.10
    coverage: float = 0.40
    context: float = 0.10
    answer_type: float = 0.12
    # Short sentences that only restate the question ("The merger changed things") would
    # otherwise beat the sentence that says something new about it.
    information: float = 0.30

    def score(self, features: tuple[float, ...]) -> float:
        """A sentence's score from its evidence, in the order of the fields: similarity, paragraph
        similarity, coverage and context (each read as similarity as far as the question's words
        are not the case's), answer type, information."""
        return sum(weight * value for weight, value in zip(astuple(self), features, strict=True))


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
        near = before[-_FIGURE_WINDOW:] + tokens(match.group()) + after[:_FIGURE_WINDOW]
        if any(stem(word) in terms for word in near):
            return True
    return False


def _name_terms(case: LoadedCase) -> frozenset[str]:
    """The terms of the words the case writes as names (capitalised inside a sentence)."""
    return frozenset(term for name in case.name_runs if " " not in name for term in content_terms(name))


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

    def __init__(self, min_similarity: float = 0.2, relative_cutoff: float = 0.85,
                 weights: Weights | None = None,
                 known_word_similarity: float = NEAR_WORD_SIMILARITY,
                 reader: SentenceReader | None = None) -> None:
        self.min_similarity = min_similarity
        self.reader = reader
        self.known_word_similarity = known_word_similarity
        self.relative_cutoff = relative_cutoff
        self.weights = weights or Weights()
        # Each case version's words by root (see `_forms`), built on its first question.
        self._root_indexes: dict[str, dict[str, list[str]]] = {}
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        """Load the sentence reader now (about 2 s) rather than on the first question."""
        if self.reader is not None:
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
        scored = self._with_wanted_answer_first(evidence, self.score(evidence))
        if not self._answers(evidence, scored):
            return not_covered(evidence, NAME)
        chosen = self._select(scored, synthesis=bool(SYNTHESIS.search(evidence.question)))
        chosen = self._with_enumeration(evidence, chosen)
        chosen = self._with_context(evidence, chosen)
        text = compose(chosen)
        return Answer(text, False, build_citations(text, evidence.case.case_id, evidence.sources),
                      evidence.case.case_id, NAME)

    def _answers(self, evidence: Evidence, scored: list[ScoredSentence]) -> bool:
        """Whether the best sentences answer the question, from the evidence for them:

        - a name or number the question uses that the case never mentions (nor abbreviates or
          misspells) means the question is about something else;
        - so does a name the case mentions only here and there when no retrieved paragraph
          mentions it;
        - the best sentence must come close enough in meaning;
        - a question counting something needs a sentence giving a number of it;
        - a question whose topic words have nothing near them in the case is not about it.
        """
        if self._unknown_specifics(evidence) or not scored or self._unplaced_names(evidence, scored) \
                or self._similarity(evidence, scored[0]) < self.min_similarity:
            return False
        if counted_noun(evidence.question) and all(s.typed <= 0 for s in scored):
            return False
        return not (self._unknown_focus(evidence) and scored[0].typed <= 0)

    @staticmethod
    def _unknown_specifics(evidence: Evidence) -> list[str]:
        """Names and numbers of the question that the case never mentions (a name it abbreviates
        or misspells counts as mentioned, and so does a number it has as an ordinal: "the 43
        Annual Grammy Awards" for "the 43rd").

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
                   and not any(term + suffix in case.vocabulary for suffix in ORDINAL_SUFFIXES)]
        # Only a name the case never spells is compared with all of its names (the slow part).
        return [word for word in unknown if word[0].isdigit() or not known_name(word, case.name_runs)]

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
                if (term := _term(word)) and 0 < case.paragraph_share(term) < _PLACING_SHARE]
        placed = any(all(term in case.paragraph_terms[s.paragraph] for term in rare) for s in scored)
        return [] if placed else rare

    def _unknown_focus(self, evidence: Evidence) -> list[str]:
        """The question's topic words (the first ones after its question word, names aside)
        when the case has none of them (a slipped spelling, "compalin", was corrected before:
        `bot.lang.english.with_slips_corrected`).

        "What was the firm's revenue?" asks about revenue: when no word of the case comes close to
        it in meaning, the case cannot answer, however well the rest of the question matches.
        Questions asking why have no such single topic.
        """
        focus = focus_words(evidence.question)
        case = evidence.case
        unknown = [w for w in focus if stem(w) not in case.vocabulary and not self._forms(w, case)
                   and case.nearest_word(w, evidence.embeddings)[1] < self.known_word_similarity]
        # One familiar word is enough to keep the question on the case's ground.
        return unknown if len(unknown) == len(focus) else []

    @staticmethod
    def _similarity(evidence: Evidence, sentence: ScoredSentence) -> float:
        """How close a sentence is to the question in meaning, read with the sentence it leans on
        ("They wanted better software" means little without "The buyers ...")."""
        case = evidence.case
        previous = case.leans_on(sentence.row)
        if previous is None:
            return sentence.similarity
        return max(sentence.similarity, float(case.vectors[previous] @ evidence.query_vector))

    def _with_wanted_answer_first(self, evidence: Evidence, scored: list[ScoredSentence]
                                  ) -> list[ScoredSentence]:
        """For a question asking for a date, amount, count or age: the candidates with the best of
        the first few that states one (and scores nearly as well as the best) moved first, or []
        when none of them does (when the sentences that best match "In what year will the cars
        launch?" name no year, the case does not say)."""
        wanted = expected_type(evidence.question) or expected_type(evidence.query)
        if wanted not in STRICT_TYPES or not scored:
            return scored
        cutoff = self.relative_cutoff * scored[0].score
        typed = next((s for s in scored[:_TYPED_REACH] if s.typed > 0 and s.score >= cutoff), None)
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
                weights[term] = index.idf_of(term) * (1.0 if term in own else _BORROWED_TERM)
        for word in _unfamiliar_words(evidence.question, case):
            near, similarity = case.nearest_word(word, evidence.embeddings)
            related = self._forms(word, case) + ([near] if similarity >= self.known_word_similarity else [])
            for term in map(stem, related):
                if term in case.vocabulary and term not in weights:
                    weights[term] = index.idf_of(term) * _BORROWED_TERM
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
        "How many plants" is answered by "three new ... plants", not by "$5 million"."""
        words = tokens(sentence)
        for index, word in enumerate(words):
            if not re.fullmatch(NUMBER, word):
                continue
            for counted in words[index + 1:index + 1 + _COUNT_WINDOW]:
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
        """Every sentence of the retrieved paragraphs, best first: by the hand-set score, the
        best few reordered by the sentence reader when there is one."""
        scored = self.hand_scored(evidence)
        return scored if self.reader is None else self._reread(evidence.query, scored, self.reader)

    @staticmethod
    def _reread(query: str, scored: list[ScoredSentence], reader: SentenceReader) -> list[ScoredSentence]:
        """The best candidates in the order of their hand-set score plus the reader's. The scores
        stay the hand-set ones in rank order, so the cut-offs that read gaps between them (how
        many sentences to show, whether the case answers) see the same gaps as before."""
        top = scored[:_READ_CANDIDATES]
        if len(top) < 2:
            return scored
        read = reader.scores(query, [s.text for s in top])
        standard = (read - read.mean()) / (read.std() + 1e-6)
        order = sorted(range(len(top)), key=lambda i: -(top[i].score + _READER_WEIGHT * standard[i]))
        return [replace(top[chosen], score=top[rank].score)
                for rank, chosen in enumerate(order)] + scored[len(top):]

    def hand_scored(self, evidence: Evidence) -> list[ScoredSentence]:
        """Every sentence of the retrieved paragraphs, best first by the hand-set score."""
        case = evidence.case
        weights = self._weights(evidence)
        total = sum(weights.values()) or 1.0
        # An elliptical follow-up ("And the rival?") asks for what the earlier question asked.
        wanted = expected_type(evidence.question) or expected_type(evidence.query)
        asked = frozenset(content_terms(evidence.query))
        paragraph_sim: dict[int, float] = {}
        for row in case.passage_rows:
            number = case.paragraph_of(row)
            sim = float(case.vectors[row] @ evidence.query_vector)
            paragraph_sim[number] = max(paragraph_sim.get(number, -1.0), sim)
        question_terms = set(content_terms(evidence.question))
        # Trust word overlap as much as the question uses the case's own words.
        lexical = len(question_terms & case.vocabulary) / len(question_terms) if question_terms else 0.0
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
                            float(typed), min(new_terms, _NEW_TERMS) / _NEW_TERMS)
                scored.append(ScoredSentence(row, hit.paragraph, case.texts[row], sim, own, typed,
                                             self.weights.score(features), features))
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
                full = len(result) + 2 > MAX_SENTENCES
                if not earlier and full and not ORDINAL_OPENING.match(sentence.text):
                    continue
                remaining = [r for r in remaining if r.row != previous]
                result.append(earlier[0] if earlier else
                              _context_sentence(case, previous, sentence.paragraph))
            result.append(sentence)
            following = case.next_sentence(sentence.row)
            if following is not None and all(r.row != following for r in result + remaining) \
                    and case.paragraph_of(following) == sentence.paragraph \
                    and len(sentence.text.split()) < _INTRO_WORDS \
                    and case.leans_on(following) == sentence.row:
                result.append(_context_sentence(case, following, sentence.paragraph))
        return result[:MAX_SENTENCES]

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
        items = self._list_items(case, chosen[0].row)[:MAX_SENTENCES]
        if not items:
            return chosen
        picked = [next((c for c in chosen if c.row == r), None)
                  or _context_sentence(case, r, case.paragraph_of(r)) for r in items]
        return picked + [c for c in chosen if c.row not in items]

    def _select(self, scored: list[ScoredSentence], synthesis: bool) -> list[ScoredSentence]:
        """The best sentence, plus up to two that are nearly as good, add something and keep the
        answer short."""
        best = scored[0]
        chosen = [best]
        cutoff = (self.relative_cutoff - (0.1 if synthesis else 0.0)) * best.score
        for candidate in scored[1:]:
            if len(chosen) == MAX_SENTENCES or candidate.score < cutoff:
                break
            if candidate.text in {c.text for c in chosen}:
                continue
            if synthesis and candidate.paragraph in {c.paragraph for c in chosen}:
                continue
            if sum(len(c.text.split()) for c in [*chosen, candidate]) > _ANSWER_WORDS:
                continue  # students read short answers; the best sentence always stays
            chosen.append(candidate)
        return chosen
