"""Conversation history and follow-up resolution.

A follow-up such as "When was that announced?" leans on earlier turns; without an LLM we resolve
it deterministically: when the question refers back (pronouns, demonstratives, ellipsis) or names
too little of the case by itself, the previous user question is added to the retrieval query.
Self-contained questions are left alone so old turns do not pollute them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from bot.answer import Turn, lone_surrogate
from bot.errors import HistoryError
from bot.lang.english import ORDINALS, names_in
from vectorstore.text import STOPWORDS, content_terms, tokens

MAX_HISTORY_TURNS = 50
MAX_TURN_CHARS = 20_000
_REFERRING = frozenset(
    "it its it's that this these those they them their theirs he him his she her hers there then "
    "such former latter same above".split()
)
# Pronouns that refer to the nearest name before them; after a name in the same question, they
# refer inside it.
_PRONOUNS = frozenset("it its they them their he him his she her".split())
_WORDS = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
_ELLIPSIS_OPENERS = ("and ", "what about", "how about", "but ", "also", "so ", "why?", "when?",
                     "how?", "who?", "where?")


def parse_history(raw: Any) -> tuple[Turn, ...]:
    """Validate a JSON history: a list of {"role": "user"|"assistant", "content": str}."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise HistoryError("history must be a JSON list of {\"role\", \"content\"} objects")
    turns = []
    for index, item in enumerate(raw):
        if not isinstance(item, Mapping) or set(item) - {"role", "content"}:
            raise HistoryError(f"history[{index}] must be an object with 'role' and 'content'")
        role, content = item.get("role"), item.get("content")
        if role not in ("user", "assistant"):
            raise HistoryError(f"history[{index}].role must be 'user' or 'assistant'")
        if not isinstance(content, str):
            raise HistoryError(f"history[{index}].content must be a string")
        turns.append(Turn(role, content))
    return check_turns(turns)


def check_turns(turns: Sequence[Turn]) -> tuple[Turn, ...]:
    """The turns of a history whose shape is already valid (roles, text), checked for what can
    be kept: how many, how long, and no lone surrogates; HistoryError otherwise."""
    if len(turns) > MAX_HISTORY_TURNS:
        raise HistoryError(f"history has {len(turns)} messages; at most {MAX_HISTORY_TURNS} are kept")
    for index, turn in enumerate(turns):
        if len(turn.content) > MAX_TURN_CHARS:
            raise HistoryError(f"history[{index}].content is longer than {MAX_TURN_CHARS} characters")
        if lone_surrogate(turn.content):
            raise HistoryError(f"history[{index}].content holds a lone surrogate, which is not text")
    return tuple(turns)


def _pointing_back(question: str, vocabulary: frozenset[str]) -> list[str]:
    """The words of a question that point outside it: its referring words, less those that
    point inside it. A personal or possessive pronoun after a name the case knows refers to that
    name ("How old was Acme when it invested?"), and "that" after a word of content joins a
    clause ("the problem that it faced"); neither needs an earlier turn. A referring word opening
    a name ("He Wei") is no pronoun."""
    words = _WORDS.findall(question)
    pointing = []
    named = False
    for index, word in enumerate(words):
        lower = word.lower()
        following = words[index + 1] if index + 1 < len(words) else ""
        if lower in _REFERRING and not (word[0].isupper() and following[:1].isupper()):
            previous = words[index - 1].lower() if index else ""
            resolved = (named and lower in _PRONOUNS) or \
                (lower == "that" and previous.isalpha() and previous not in STOPWORDS)
            if not resolved:
                pointing.append(lower)
        elif word[0].isupper() and index > 0 and set(content_terms(word)) & vocabulary:
            named = True
    return pointing


def refers_back(question: str, vocabulary: frozenset[str]) -> bool:
    """Whether a question leans on earlier turns rather than standing on its own."""
    lowered = question.strip().lower()
    if _pointing_back(question, vocabulary) or lowered.startswith(_ELLIPSIS_OPENERS):
        return True
    # Too little of the case named to stand alone ("Why?", "How much?").
    return sum(term in vocabulary for term in content_terms(question)) < 1


def _replaced(question: str, previous: str) -> str:
    """The earlier question without what the follow-up puts in its place: "And the second one?"
    after "What was the first benefit?" asks about the second, not the first; "What about
    Acme?" after "What did Globex gain?" asks about Acme."""
    words = previous.split()
    if set(tokens(question)) & set(ORDINALS):
        words = [w for w in words if not set(tokens(w)) & set(ORDINALS)]
    names = set(names_in(question))
    if names:
        words = words[:1] + [w for w in words[1:] if w.strip("?,.!;:") in names
                             or not re.fullmatch(r"[A-Z][A-Za-z]+(?:['’]s)?", w.strip("?,.!;:"))]
    return " ".join(words)


def resolve_question(question: str, history: Sequence[Turn], vocabulary: frozenset[str]) -> str:
    """The retrieval query for `question`: itself, or joined with the last user question (less
    whatever the follow-up replaces)."""
    previous = [t.content for t in history if t.role == "user" and t.content.strip()]
    if not previous or not refers_back(question, vocabulary):
        return question
    return f"{question} {_replaced(question, previous[-1])}".strip()
