"""What the extractive answerer keeps hand-set, in one place, each value with its reason.

The sentence score and the decision to answer are read from a models file
(bot/answerers/learned.py); the file shipped holds the hand-set rules below written as models
(`hand_set_models`), because the models `make train` learns did not beat them yet
(docs/decisions/learned-answerer.md).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HandSet:
    """The extractive answerer's hand-set values."""

    # An answer quotes at most this many sentences: students read short answers.
    max_sentences: int = 3
    # Words the sentences chosen on their own evidence may have together: the largest budget
    # keeping answers at 50 words on the SQuAD articles (docs/decisions/word-budget.md).
    answer_words: int = 74
    # A sentence shorter than this that the next one goes on from ("They needed a partner.")
    # brings that one with it.
    intro_words: int = 15
    # How many words after a number may name what it counts ("three new ... plants").
    count_window: int = 5
    # A sentence telling this many words beyond the question's own counts as fully informative.
    new_terms: int = 8
    # Words either side of an amount that say what it is an amount of ("the $700 million stake").
    figure_window: int = 6
    # What a term the question does not itself use (from the earlier question, or the case's word
    # nearest to one the case never uses) counts in the word match, against 1 for its own.
    borrowed_term: float = 0.5
    # How far down the candidates a question asking for a date or a number looks for a sentence
    # stating one: the best such sentence is rarely the best match overall.
    typed_reach: int = 3
    # A name in fewer than this share of the case's paragraphs places the answer; when no retrieved
    # paragraph has it, they are about something else (docs/decisions/rare-name-check.md).
    placing_share: float = 0.10
    # A question's topic words that the case lacks decline it only when business cases commonly
    # use one of them, at least this share of the written cases (bot/lang/case_vocabulary.py): a
    # case covering "interest rates" or "revenue" would use those words; "the boss", "the catch"
    # or "pushing for" are the student's own words for what a case says in others
    # (docs/decisions/topic-words.md).
    common_word_share: float = 0.4
    # A synthesis question takes sentences this much further below the best one (in the share of
    # its score): its answer spans paragraphs.
    synthesis_reach: float = 0.1
    # The weights of the six kinds of evidence in a sentence's score (similarity, paragraph
    # similarity, coverage, context, answer type, information), set by hand on the bundled case
    # and the articles (docs/decisions/learned-weights.md); information counts so that a sentence
    # only restating the question does not beat one saying something new.
    weights: tuple[float, ...] = (0.35, 0.10, 0.40, 0.10, 0.12, 0.30)
    # A sentence scoring at least this share of the best one's score is nearly as good.
    cutoff: float = 0.85
    # The best sentence (read with the one it leans on) must be at least this close to the
    # question in meaning (docs/decisions/abstention-floor.md).
    floor: float = 0.20


HAND_SET = HandSet()
