"""Text utilities shared by ingestion and answering: sentences, tokens, hashes."""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
from collections.abc import Iterator
from functools import lru_cache

import snowballstemmer

# Abbreviations whose trailing period does not end a sentence.
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof inc ltd co corp jr sr st vs etc no fig approx est".split()
)
# Letters with full stops between them: "J.S.", "U.S.", "e.g.", "i.e." (the last stop is the match's).
_INITIALS = re.compile(r"(?:[a-z]\.)+[a-z]")
# The most letters a word cut short before a number has ("Op. 28", "Vol. 2", "(r. 1402–1424)").
_SHORT_ABBREVIATION = 3
_SENTENCE_END = re.compile(r"[.!?]['\"”’)\]]*(?=\s+|$)")
# A word: letters of any alphabet and figures ("gładkowska", "700"), with inner punctuation ("5.5",
# "2,000", "l'oreal").
_WORD = re.compile(r"[^\W_]+(?:[.,'’][^\W_]+)*")

# One stemmer a thread: a snowballstemmer object keeps the word it works on in itself, so two
# threads stemming with one object corrupt each other's word (IndexError under concurrent answers).
_STEMMERS = threading.local()

STOPWORDS = frozenset(
    """a an the and or but if then than so of in on at to for from by with about into over under
    as is are was were be been being am do does did doing have has had having it its it's this that
    these those there here which who whom whose what when where why how i me my we our you your he
    him his she her they them their not no nor can could would should will shall may might must
    just also very more most much many such only own same too any each all both few other some
    up down out off again further once s t don't didn't isn't wasn't aren't weren't tell explain
    describe according case please give say said does did one two""".split()
)


# Words that join a sentence to the one before it and say nothing of their own ("But the plan
# ...", "However, sales ..."): shown without that sentence, they dangle.
CONNECTIVE = re.compile(r"^(?:But|And|So|Yet|Still|Also|Moreover|However|Instead|Then|Thus|Hence|"
                        r"Therefore|Nevertheless|Nonetheless|Furthermore|Meanwhile|Indeed|Besides|"
                        r"In addition|As a result|Even so)\b,?\s+")
# A sentence opening like this leans on the one before it: a pronoun, a demonstrative, a
# connective, or a step of an enumeration ("They said ...", "That decision ...", "Second, it ...").
_CONTINUATION = re.compile(
    r"^(?:(?:They|Their|Them|He|She|His|Her|It|Its|This|These|Those|That|Such)\b(?!\s*[,:;])(?!\s+[A-Z])"
    r"|(?:Second|Third|Fourth|Finally|Next|Later|First(?=,)|Secondly|Thirdly|Lastly)\b[,\s])"
)

# A comparison with what was just said, anywhere in a sentence ("Globex faced the opposite
# problem", "the latter", "the same year", "on the other"): alone, it says nothing a reader can
# place.
_COMPARED_BACK = re.compile(r"\b(?:the\s+(?:opposite|reverse|former|latter|same|other)|such\s+an?)\b", re.I)


def continues_previous(sentence: str) -> bool:
    """Whether a sentence only makes sense after the one before it."""
    opening = sentence.lstrip()
    return bool(_CONTINUATION.match(opening) or CONNECTIVE.match(opening)
                or _COMPARED_BACK.search(opening))


def normalize(text: str) -> str:
    """NFKC-normalise and collapse runs of whitespace to single spaces."""
    return " ".join(unicodedata.normalize("NFKC", text).split())


def content_hash(text: str) -> str:
    """A short stable hash of normalised text, used to detect changed paragraphs."""
    return hashlib.sha256(normalize(text).encode("utf-8")).hexdigest()[:16]


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Character spans (start, end) of the sentences in `text`, in order."""
    spans: list[tuple[int, int]] = []
    start = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
        word = text[start:match.start()].rsplit(maxsplit=1)
        written = word[-1].rstrip(".").lstrip("([{\"'“‘") if word else ""
        last = written.lower()
        full_stop = text[match.start()] == "."
        # An abbreviation, initials, or no word at all ("[...]") end no sentence; a figure does.
        if full_stop and (last in _ABBREVIATIONS or _INITIALS.fullmatch(last)
                          or (len(last) <= 1 and not last.isdigit())):
            continue
        rest = text[end:].lstrip()
        if rest and rest[0].islower():
            continue
        # A short word's full stop before a number abbreviates the word ("Op. 28", "(r. 1402–1424)");
        # an acronym's does not ("in the US. 4 also ...").
        if full_stop and rest[:1].isdigit() and last.isalpha() and len(last) <= _SHORT_ABBREVIATION \
                and not written.isupper():
            continue
        spans.append(_trim(text, start, end))
        start = end
    if text[start:].strip():
        spans.append(_trim(text, start, len(text)))
    return [span for span in spans if span[1] > span[0]]


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def sentences(text: str) -> list[str]:
    """The sentences of `text` as strings."""
    return [text[a:b] for a, b in split_sentences(text)]


def without_accents(text: str) -> str:
    """`text` with its letters' accents dropped ("Beyoncé" → "Beyonce", "Déjà" → "Deja"): students
    often type names without them. Letters of their own ("ł", "ø") stay as they are."""
    if text.isascii():
        return text
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def tokens(text: str) -> list[str]:
    """Lower-cased word tokens without accents; numbers keep inner punctuation ("700", "5.5",
    "2,000")."""
    folded = without_accents(unicodedata.normalize("NFKC", text)).lower().replace("’", "'")
    return [word[:-2] if word.endswith("'s") else word for word in _WORD.findall(folded)]


@lru_cache(maxsize=65536)
def stem(token: str) -> str:
    """The Snowball (Porter 2) stem of a lower-cased token: invest/invested/investment -> invest."""
    if not token.isalpha():
        return token
    stemmer = getattr(_STEMMERS, "english", None)
    if stemmer is None:
        stemmer = _STEMMERS.english = snowballstemmer.stemmer("english")
    return str(stemmer.stemWord(token))


def content_terms(text: str) -> list[str]:
    """Stemmed tokens without stopwords: the terms that carry a text's meaning."""
    return [stem(token) for token in tokens(text) if token not in STOPWORDS]


def iter_lines(text: str) -> Iterator[tuple[int, int]]:
    """Character spans of the lines of `text`, without their line endings."""
    start = 0
    for match in re.finditer(r"\r\n|\r|\n", text):
        yield start, match.start()
        start = match.end()
    if start < len(text):
        yield start, len(text)
