"""What a generated sentence claims, beyond its words: the quantities it states, who does what to
whom, and what an opening pronoun stands for. Used by citation enforcement (`bot.answerers.support`).

- Quantities: numbers in figures or words ("$0.7 billion", "seven hundred million", "five per
  cent", "a third", "the twenty-sixth of July") become values, so a claim is compared with its
  source by value, whatever way either writes it.
- Roles: a claim can use only words of its source and still reverse who did what ("B invested in
  A" from "A invested in B"). `swapped_roles` aligns the claim with its best source sentence around
  the verbs they share and reports words whose role (doer, done-to, from, to) differs.
- Pronouns: a sentence opening with "It", "They", "He", "Its" ... names its subject through the
  sentence before it; `resolve_opening_pronoun` puts that subject in, so the sentence can be checked.

All of it is general English: no word list names anything of a particular case.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from bot.lang.numbers import (
    COUNTS,
    FRACTIONS,
    MONTHS,
    ONE_NOT_A_COUNT_AFTER,
    ONE_NOT_A_COUNT_BEFORE,
    ORDINAL_SUFFIXES,
    ORDINALS,
    SCALE_SUFFIXES,
    SCALES,
    TENS,
    UNITS,
)

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*[a-z]*|[a-z]+|%")
# Two values are the same quantity when they differ by less than this share ("a third" is 33%).
_TOLERANCE = 0.015


@dataclass(frozen=True)
class Quantity:
    """One number a text states: the values it may be read as, and the text that stated it."""

    values: frozenset[float]
    text: str
    bare: float | None = None  # the figure without its scale ("700" of "700 million")


def _is_number_word(token: str) -> bool:
    return token in UNITS or token in TENS


def _date_context(words: Sequence[str], start: int, end: int) -> bool:
    """Whether words[start:end] sits next to a month name ("July 26th", "26th of July")."""
    before = words[max(0, start - 2):start]
    after = words[end:end + 2]
    return any(w in MONTHS for w in before) or (bool(after) and (after[0] in MONTHS or (
        after[0] == "of" and len(after) > 1 and after[1] in MONTHS)))


def _percent_after(words: Sequence[str], index: int) -> int:
    """How many words after `index` say "percent" (0 when none)."""
    if index < len(words) and words[index] in ("%", "percent"):
        return 1
    if words[index:index + 2] == ["per", "cent"]:
        return 2
    return 0


def quantities(text: str) -> list[Quantity]:
    """The quantities `text` states, in order."""
    words = _TOKEN.findall(text.lower().replace("-", " ").replace("’", "'"))
    found: list[Quantity] = []
    i = 0
    while i < len(words):
        word = words[i]
        start = i
        value: float | None = None
        bare: float | None = None
        ordinal = False
        if word[0].isdigit():
            digits = re.match(r"\d+(?:[.,]\d+)*", word)
            assert digits is not None
            raw, suffix = digits.group(0), word[digits.end():]
            number = float(raw.replace(",", ""))
            value = bare = number
            if suffix in SCALE_SUFFIXES:
                value = number * SCALE_SUFFIXES[suffix]
            elif suffix in ORDINAL_SUFFIXES:
                ordinal = True
            i += 1
            while i < len(words) and words[i] in SCALES:
                value *= SCALES[words[i]]
                i += 1
        elif word in ("a", "one") and i + 1 < len(words) and words[i + 1] in FRACTIONS:
            value = 1 / FRACTIONS[words[i + 1]]  # "a third", "one fifth"
            i += 2
        elif _is_number_word(word) or (word in ("a", "an") and i + 1 < len(words)
                                       and (words[i + 1] in SCALES or words[i + 1] == "dozen")):
            total, current = 0.0, 0.0
            if word in ("a", "an"):
                current = 1.0
                i += 1
            while i < len(words):
                token = words[i]
                if token in UNITS:
                    current += UNITS[token]
                elif token in TENS:
                    current += TENS[token]
                elif token == "dozen":
                    current = (current or 1) * 12
                elif token == "hundred":
                    current = (current or 1) * 100
                elif token in SCALES:
                    total += (current or 1) * SCALES[token]
                    current = 0.0
                elif token == "and" and i + 1 < len(words) and _is_number_word(words[i + 1]) \
                        and (total or current >= 100):
                    pass
                else:
                    break
                i += 1
            value = total + current
            # "twenty-sixth": a compound ordinal.
            if i < len(words) and words[i] in ORDINALS and ORDINALS[words[i]] < 10 and value % 10 == 0:
                value += ORDINALS[words[i]]
                ordinal = True
                i += 1
            elif i < len(words) and words[i] in ("thirds", "quarters", "halves", "fifths"):
                value = value / {"thirds": 3, "quarters": 4, "halves": 2, "fifths": 5}[words[i]]
                i += 1
            if value == 1 and i - start == 1 and word == "one" and (
                    (i < len(words) and words[i] in ONE_NOT_A_COUNT_AFTER)
                    or (start > 0 and words[start - 1] in ONE_NOT_A_COUNT_BEFORE)):
                continue  # "one of the ...", "the one": not a count
        elif word in COUNTS and word not in FRACTIONS:
            value = COUNTS[word]
            i += 1
        elif word in ORDINALS:
            value = float(ORDINALS[word])
            ordinal = True
            i += 1
        else:
            i += 1
            continue
        if ordinal and not _date_context(words, start, i):
            continue  # "the first point", "Second, it ...": an enumeration, not a value
        values = {value}
        if (skip := _percent_after(words, i)):
            values.add(value / 100)
            i += skip
        elif value < 1:
            values.add(value * 100)  # "a third" is also "33%"
        found.append(Quantity(frozenset(values), " ".join(words[start:i]),
                              bare if bare is not None and bare != value else None))
    return found


def same_value(a: float, b: float) -> bool:
    """Whether two values are the same quantity, allowing for rounding ("a third" and 33%) where
    one of them is a fraction; whole numbers (years, counts, amounts) must be equal."""
    if a == b:
        return True
    if float(a).is_integer() and float(b).is_integer():
        return False
    return abs(a - b) <= _TOLERANCE * max(abs(a), abs(b))


def value_set(texts: Iterable[str]) -> set[float]:
    """Every value the texts state, scaled and bare ("700 million" gives 7e8 and 700)."""
    values: set[float] = set()
    for text in texts:
        for quantity in quantities(text):
            values |= quantity.values
            if quantity.bare is not None:
                values.add(quantity.bare)
    return values


def unsupported_quantities(claim: str, sources: Iterable[str], counts: Iterable[int] = ()) -> list[str]:
    """The quantities of `claim` that none of `sources` states (nor `counts`, counts the claim
    may make of what it cites, such as the items of a list it cites whole)."""
    known = value_set(sources) | {float(c) for c in counts}
    return [q.text for q in quantities(claim)
            if not any(same_value(v, k) for v in q.values for k in known)]


# Roles -------------------------------------------------------------------------------------------

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*[A-Za-z]|[A-Za-z]|\d[\d.,]*%?|[,;:()—–]")
# Words that come between a subject and its verb ("would invest", "had to convince", "was turning").
_AUXILIARIES = frozenset("would will could can should may might must to had has have was were is are "
                         "be been being did does do shall".split())
_BE = frozenset("was were is are be been being".split())
# Words that may sit inside a verb group without being its verb ("once questioned", "not only").
_INSIDE_VERB_GROUP = frozenset("not also once now just then still already only never ever".split())
# Words after which a word ending in -ed is an adjective or noun, not a verb ("the invested sum").
_DETERMINERS = frozenset("the a an its their his her this that these those our your my".split())
_CLAUSE_END = frozenset(";:()—–")
_FROM = frozenset({"from"})
_TO = frozenset({"to", "into", "toward", "towards"})

DOER, DONE, FROM, TO = "doer", "done-to", "from", "to"


def _words(sentence: str) -> list[str]:
    return _WORD.findall(sentence.replace("’", "'"))


def _content_key(word: str, stopwords: frozenset[str], key: Callable[[str], str]) -> str:
    """The comparison key of a content word, or "" for stopwords and punctuation."""
    lower = word.lower()
    if not lower[0].isalnum() or lower in stopwords or lower.removesuffix("'s") in stopwords:
        return ""
    return key(lower)


def _skip_adverbs(words: Sequence[str], index: int, step: int) -> int:
    """The index after skipping -ly adverbs and verb-group particles from `index` in `step` direction."""
    while 0 <= index < len(words) and (words[index].lower() in _INSIDE_VERB_GROUP
                                       or (words[index].lower().endswith("ly") and len(words[index]) > 4)):
        index += step
    return index


def _verb_at(words: Sequence[str], index: int, stopwords: frozenset[str]) -> tuple[bool, bool]:
    """Whether words[index] reads as a verb (and whether as a passive one), from its neighbours."""
    word = words[index].lower()
    if not word[0].isalpha() or word in stopwords or words[index][0].isupper():
        return False, False
    before = _skip_adverbs(words, index - 1, -1)
    previous = words[before].lower() if before >= 0 else ""
    after = words[index + 1].lower() if index + 1 < len(words) else ""
    participle = word.endswith(("ed", "en"))
    if previous in _AUXILIARIES:
        chain = before
        be = False
        while chain >= 0 and words[chain].lower() in _AUXILIARIES:
            be = be or words[chain].lower() in _BE
            chain = _skip_adverbs(words, chain - 1, -1)
        return True, be and participle
    if word.endswith("ed") and previous not in _DETERMINERS:
        return True, after == "by"
    return False, False


@dataclass(frozen=True)
class _Roles:
    """Content-word keys by role, for each verb of a sentence."""

    roles: dict[str, dict[str, str]]  # verb key -> {word key: role}
    words: frozenset[str]  # every content-word key of the sentence


def _roles(sentence: str, stopwords: frozenset[str], key: Callable[[str], str]) -> _Roles:
    words = _words(sentence)
    keys = [_content_key(w, stopwords, key) for w in words]
    roles: dict[str, dict[str, str]] = {}
    for index, word_key in enumerate(keys):
        if not word_key:
            continue
        is_verb, passive = _verb_at(words, index, stopwords)
        if not is_verb:
            continue
        # The words just before the verb group: its subject (or, when passive, what it was done to);
        # before an infinitive ("A would use B to develop C") they are not its subject.
        left = _skip_adverbs(words, index - 1, -1)
        chain: list[str] = []
        while left >= 0 and words[left].lower() in _AUXILIARIES:
            chain.append(words[left].lower())
            left = _skip_adverbs(words, left - 1, -1)
        if chain == ["to"]:
            left = -1
        before: list[str] = []
        while left >= 0 and (keys[left] or words[left] == ","):
            if keys[left]:
                before.append(keys[left])
            left -= 1
        # The rest of the clause after the verb, with its "by", "from" and "to" phrases.
        found: dict[str, str] = {}
        for k in before:
            found[k] = DONE if passive else DOER
        segment = DONE
        for position in range(index + 1, len(words)):
            token = words[position].lower()
            if token in _CLAUSE_END:
                break
            if token == "by" and passive and segment == DONE:
                segment = DOER
            elif token in _FROM:
                segment = FROM
            elif token in _TO and segment in (FROM, TO):
                segment = TO
            elif keys[position] and keys[position] != word_key:
                role = segment if not (passive and segment == DONE) else ""
                if role and found.get(keys[position], role) != role:
                    role = "?"  # a word in two roles tells nothing
                if role:
                    found[keys[position]] = role
        roles.setdefault(word_key, {k: r for k, r in found.items() if r != "?"})
    return _Roles(roles, frozenset(k for k in keys if k))


def swapped_roles(claim: str, source: str, stopwords: frozenset[str],
                  key: Callable[[str], str]) -> list[str]:
    """Words whose role around a verb the claim and its source sentence share is reversed:
    the doer in one and the done-to in the other, "from" in one and "to" in the other, or the doer
    of one shared verb in the claim and of another in the source. Empty when no reversal is seen."""
    said = _roles(claim, stopwords, key)
    told = _roles(source, stopwords, key)
    shared = [verb for verb in said.roles if verb in told.roles]
    reversed_words: list[str] = []
    opposite = {DOER: DONE, DONE: DOER, FROM: TO, TO: FROM}
    for verb in shared:
        mine, theirs = said.roles[verb], told.roles[verb]
        conflicts = [w for w, role in mine.items() if theirs.get(w) == opposite[role]]
        doers_c = {w for w, r in mine.items() if r == DOER}
        doers_s = {w for w, r in theirs.items() if r == DOER}
        # One word moved into the other's place is enough for from/to; for doer/done-to the other
        # side must move too, or the source's doer be a pronoun (then nothing can move).
        if any(mine[w] in (FROM, TO) for w in conflicts):
            reversed_words += conflicts
            continue
        if conflicts and (not doers_s or (doers_s - doers_c) & said.words):
            reversed_words += conflicts
            continue
        # A plain exchange of doers: each sentence's doer is elsewhere in the other sentence.
        moved_in = {w for w in doers_c - doers_s if w in told.words}
        moved_out = {w for w in doers_s - doers_c if w in said.words}
        if moved_in and moved_out:
            reversed_words += sorted(moved_in)
            continue
        # The doer of this verb in the claim is the doer of another shared verb in the source.
        for other in shared:
            if other != verb and doers_c and doers_s and not doers_c & doers_s and \
                    doers_c & {w for w, r in told.roles[other].items() if r == DOER}:
                reversed_words += sorted(doers_c)
                break
    reversed_words += _exchanged_complements(claim, source, key)
    return list(dict.fromkeys(reversed_words))


_COMPLEMENT = re.compile(r"\b([A-Za-z][\w-]*)\s+(in|of|to|from|for|with|by|into|on|at|over|against)\s+"
                         r"(?:the\s+)?([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)")


def _exchanged_complements(claim: str, source: str, key: Callable[[str], str]) -> list[str]:
    """Names that moved into another name's place after the same word and preposition: "a stake
    in A" where the source has "a stake in B", while A and B are both in both sentences."""

    def complements(text: str) -> dict[tuple[str, str], str]:
        found: dict[str, list[tuple[str, str]]] = {}
        for word, preposition, name in _COMPLEMENT.findall(text):
            found.setdefault(key(word.lower()), []).append((preposition.lower(), key(name.lower())))
        # A word with two name complements ("hubs in A", "hubs of B") says nothing about which.
        return {(word, slots[0][0]): slots[0][1] for word, slots in found.items() if len(slots) == 1}

    def names(text: str) -> set[str]:
        return {key(n.lower()) for n in re.findall(r"\b[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*", text)}

    said, told = complements(claim), complements(source)
    in_claim, in_source = names(claim), names(source)
    return [name for slot, name in said.items()
            if slot in told and told[slot] != name and name in in_source and told[slot] in in_claim]


# Pronouns ----------------------------------------------------------------------------------------

_PRONOUN = re.compile(
    r"^(?P<intro>(?:(?:In|On|At|For|By|After|Before|With|As|Then|Now|So|And|But|Yet|Still|Thus|Later"
    r"|Also|Meanwhile|Instead)\b[^,.;:]{0,30}?|[A-Z][a-z]+ly),?\s+)?"
    r"(?P<pronoun>[Ii]t|[Ii]ts|[Tt]hey|[Tt]heir|[Hh]e|[Hh]is|[Ss]he|[Hh]er)\b(?!\s+[A-Z])(?!')")
_POSSESSIVE = frozenset({"its", "their", "his", "her"})
_INTRO = re.compile(r"^(?:(?:In|On|At|For|By|After|Before|With|As|Since|During|When|While|Under|Over|From"
                    r"|Then|Now|So|But|And|Yet|Still|Thus)\b[^,]{0,40}|[A-Z][a-z]+ly),\s+")
_MARKERS = re.compile(r"\s*\[[^\]]*\]")


def opening_pronoun(sentence: str) -> str:
    """The personal pronoun a sentence opens with ("It", "Their", "In return it"), or ""."""
    match = _PRONOUN.match(sentence.strip())
    return match.group("pronoun") if match else ""


def subject_of(sentence: str, stopwords: frozenset[str]) -> str:
    """The subject a sentence opens with ("Acme's executives", "The partnership"), or ""."""
    text = _INTRO.sub("", _MARKERS.sub("", sentence).strip(), count=1)
    words = text.split()
    taken: list[str] = []
    for position, raw in enumerate(words):
        word = raw.strip(",;:.!?\"“”()")
        lower = word.lower()
        following = words[position + 1] if position + 1 < len(words) else ""
        # A capitalised stopword opens a name only when a capitalised word follows ("He Wei").
        capitalised = word[:1].isupper() and not (position == 0 and lower in stopwords
                                                  and not following[:1].isupper())
        if position == 0 and lower in ("the", "a", "an"):
            taken.append(word)
            continue
        verb_like = lower in _AUXILIARIES or lower.endswith("ed") or (lower.endswith("ly") and len(lower) > 4)
        if not word or (not capitalised and (lower in stopwords or verb_like)) or len(taken) >= 6:
            break
        taken.append(word)
        if raw != word:
            break  # punctuation ends the subject
    if not taken or all(t.lower() in ("the", "a", "an") for t in taken):
        return ""
    return " ".join(taken)


def resolve_opening_pronoun(sentence: str, previous: str, stopwords: frozenset[str]) -> str:
    """`sentence` with its opening pronoun replaced by the subject of `previous`; unchanged when
    it opens with no pronoun or the previous sentence shows no subject."""
    match = _PRONOUN.match(sentence.strip())
    subject = subject_of(previous, stopwords) if match else ""
    if not match or not subject:
        return sentence
    pronoun = match.group("pronoun")
    if pronoun.lower() in _POSSESSIVE:
        subject = subject + ("'" if subject.endswith("s") else "'s")
    if pronoun[0].isupper() and subject[:1].islower():
        subject = subject[0].upper() + subject[1:]
    elif pronoun[0].islower() and subject.split()[0].lower() in ("the", "a", "an"):
        subject = subject[0].lower() + subject[1:]
    text = sentence.strip()
    return text[:match.start("pronoun")] + subject + text[match.end("pronoun"):]


# Connectives -------------------------------------------------------------------------------------

# Phrases that link a sentence to the one before ("In return, ...") and claim nothing themselves.
_CONNECTIVE = re.compile(
    r"^(?:in (?:return|turn|exchange|addition|short|particular|practice|fact)|as a (?:result|consequence)"
    r"|on the other hand|at the same time|for (?:example|instance)|however|moreover|furthermore"
    r"|meanwhile|consequently|therefore|thus|still|yet|instead|then|finally|overall|also|besides"
    r"|likewise|similarly|in the end|after all)\b,?\s*", re.IGNORECASE)


def strip_connective(sentence: str) -> str:
    """The sentence without a leading connective ("In return, it received ..." -> "it received ...")."""
    stripped = _CONNECTIVE.sub("", sentence.strip(), count=1)
    return stripped[:1].upper() + stripped[1:] if stripped else sentence
