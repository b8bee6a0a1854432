"""The words business cases commonly use, and how commonly: the share of the written training cases
(training/data, train split) whose text has each word's stem.

A question's topic word that a case lacks says the case does not cover that topic only when a case
covering it would use the word: a case about a company's borrowing writes "interest rate", one
about its results "revenue". A word few cases use ("the boss", "the catch", "what was he pushing
for") is the student's own way of putting the question; a case that answers it says so in other
words.

`training/case_vocabulary.py` (run by `make train`) writes the table beside this module, stems used
by at least `FLOOR` of the cases, sorted; `case_word_shares` is the count it writes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from functools import cache
from pathlib import Path

from vectorstore.text import stem, tokens

VOCABULARY_FILE = Path(__file__).parent / "case_vocabulary.tsv"
# The table keeps stems at least this share of the cases use: the rarer ones are never common.
FLOOR = 0.2


def case_word_shares(texts: Iterable[str]) -> dict[str, float]:
    """The share of `texts` (whole cases) using each word stem, for stems at or above `FLOOR`,
    rounded to three places; numbers are not words and are left out."""
    counts: Counter[str] = Counter()
    total = 0
    for text in texts:
        total += 1
        counts.update({stem(word) for word in tokens(text) if word.isalpha()})
    if not total:
        return {}
    return {term: round(count / total, 3) for term, count in sorted(counts.items())
            if count / total >= FLOOR}


@cache
def _shares() -> dict[str, float]:
    shares = {}
    for line in VOCABULARY_FILE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            term, share = line.split("\t")
            shares[term] = float(share)
    return shares


def case_word_share(word: str) -> float:
    """The share of business cases using `word` in any form of its stem (0 when fewer than
    `FLOOR` do)."""
    return _shares().get(stem(word.lower()), 0.0)
