"""English word lists and patterns the answerers and the conversation use, each with its reason.

Tokenising, stemming and stopwords live in `vectorstore.text`, because retrieval needs them too;
what only reading questions and answers needs lives here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from difflib import SequenceMatcher

# Ordinals a list item opens with ("Second, it provided ...") and a follow-up names ("And the
# second one?"): they pick one item of an enumeration.
ORDINALS = ("first", "second", "third", "fourth", "fifth")

# A name: a capitalised word that does not open a sentence (where every word is capitalised).
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z]+\b")


def names_in(text: str) -> list[str]:
    """The capitalised words of `text` that do not open a sentence ("Acme", "Globex")."""
    return _NAME.findall(text)


def abbreviates(short: str, name: str) -> bool:
    """Whether `short` can abbreviate `name`: "GM" for "General Motors", "NYC" for "New York City".

    The test of Schwartz and Hearst (2003) for abbreviation definitions, reduced to names: the short
    form has two to five letters, at least two of them capitals, and its letters appear in `name`
    in order, the first letter opening it.
    """
    letters = short.lower()
    if not (2 <= len(short) <= 5 and short.isalpha() and sum(c.isupper() for c in short) >= 2):
        return False
    spelled = "".join(ch for ch in name.lower() if ch.isalpha())
    if len(spelled) <= len(letters) or spelled[0] != letters[0]:
        return False
    position = 0
    for letter in letters:
        position = spelled.find(letter, position) + 1
        if position == 0:
            return False
    return True


# Two spellings at least this similar (difflib's ratio) are taken for one name misspelt:
# "Toyata" and "Toyota" score 0.83, "Tokyo" and "Toyota" 0.73.
MISSPELLING_RATIO = 0.8
_MISSPELLING_MIN_LETTERS = 5


def misspells(word: str, name: str) -> bool:
    """Whether `word` is a likely misspelling of `name` (same first letter, nearly the same letters)."""
    a, b = word.lower(), name.lower()
    if a == b or len(a) < _MISSPELLING_MIN_LETTERS or a[0] != b[0]:
        return False
    return SequenceMatcher(None, a, b).ratio() >= MISSPELLING_RATIO


def known_name(word: str, names: Iterable[str]) -> bool:
    """Whether a name the text never spells out is one of `names` abbreviated or misspelt."""
    return any(abbreviates(word, name) or misspells(word, name) for name in names)
