"""English word lists and patterns the answerers and the conversation use, each with its reason.

Tokenising, stemming and stopwords live in `vectorstore.text`, because retrieval needs them too;
what only reading questions and answers needs lives here.
"""

from __future__ import annotations

import re

# Ordinals a list item opens with ("Second, it provided ...") and a follow-up names ("And the
# second one?"): they pick one item of an enumeration.
ORDINALS = ("first", "second", "third", "fourth", "fifth")

# A name: a capitalised word that does not open a sentence (where every word is capitalised).
_NAME = re.compile(r"(?<![.!?]\s)(?<!^)\b[A-Z][A-Za-z]+\b")


def names_in(text: str) -> list[str]:
    """The capitalised words of `text` that do not open a sentence ("Acme", "Globex")."""
    return _NAME.findall(text)
