"""English word lists and patterns the answerers and the conversation use, each with its reason:
what a question asks for (a date, an amount, a name), its topic words, names, abbreviations.

Tokenising, stemming and stopwords live in `vectorstore.text`, because retrieval needs them too;
what only reading questions and answers needs lives here.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from difflib import SequenceMatcher

from bot.lang.numbers import MONTH_NAMES, UNITS
from vectorstore.text import STOPWORDS, stem, tokens, without_accents

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


def spelt_out(short: str, texts: Iterable[str]) -> bool:
    """Whether one of `texts` writes out the abbreviation `short` in full: consecutive words whose
    first letters spell it (a hyphen parts words too), all in lower case or all capitalised ("JV"
    for "joint venture", "IPO" for "Initial Public Offering"). A run mixing the two ("joined
    Nokia") is not a writing-out."""
    if not (2 <= len(short) <= 5 and short.isalpha() and short.isupper()):
        return False
    pattern = re.compile(r"\b" + r"[\w'’]*[\s-]+".join(short.lower()) + r"[\w'’]*", re.IGNORECASE)
    for text in texts:
        for match in pattern.finditer(text):
            words = re.split(r"[\s-]+", match.group())
            if all(w.islower() for w in words) or all(w[0].isupper() for w in words):
                return True
    return False


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


def with_two_letters_swapped(word: str) -> list[str]:
    """The word with each pair of neighbouring letters swapped: the commonest typing slip
    ("compalin" for "complain", "laywer" for "lawyer")."""
    return [word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)
            if word[i] != word[i + 1]]


# Words this short are left as they are: swapped, many of them are other words ("on", "no").
_SLIP_MIN_LETTERS = 4


# Shorthand students type in a chat, with the words a case writes instead: "how many ppl worked
# there?" counts people. Only forms that are no English word of their own.
SHORTHAND = {"ppl": "people", "govt": "government", "gov't": "government", "mgmt": "management",
             "biz": "business", "yr": "year", "yrs": "years", "approx": "approximately",
             "w/o": "without", "w/": "with", "b/c": "because", "thru": "through", "abt": "about",
             "acct": "account", "dept": "department", "mkt": "market", "intl": "international",
             "mfg": "manufacturing", "bldg": "building"}
_SHORTHAND = re.compile(r"(?<![\w/'’])("
                        + "|".join(re.escape(s) for s in sorted(SHORTHAND, key=len, reverse=True))
                        + r")(?![\w'’])", re.IGNORECASE)


def with_shorthand_expanded(text: str) -> str:
    """`text` with chat shorthand (`SHORTHAND`) written out."""
    return _SHORTHAND.sub(lambda m: SHORTHAND[m.group(1).lower()], text)


def with_slips_corrected(text: str, vocabulary: Collection[str], words: Collection[str]) -> str:
    """`text` with each word that is not an English word (`words`, lower case) and that
    `vocabulary` (stems) lacks, but has with two neighbouring letters swapped back, spelt the
    vocabulary's way: "What were the negotaitions like?" asks about the negotiations, for
    retrieval and answering alike. A real word stays as it is, even when the case lacks it and has
    it swapped ("sued" is not a slip for "used")."""
    def corrected(match: re.Match[str]) -> str:
        word = match.group(0)
        lower = without_accents(word.lower())
        if len(lower) < _SLIP_MIN_LETTERS or lower in words or lower in STOPWORDS \
                or stem(lower) in vocabulary:
            return word
        slip = next((s for s in with_two_letters_swapped(lower) if stem(s) in vocabulary), None)
        if slip is None:
            return word
        return slip.upper() if word.isupper() else slip[0].upper() + slip[1:] if word[0].isupper() else slip

    return re.sub(r"[^\W\d_]+", corrected, text)


# Suffixes that derive one word from another ("found" and "founder", "entrepreneur" and
# "entrepreneurial", "make" and "making"): a student's word and the case's may be two forms of one
# root that stemming, which removes only inflections, leaves apart.
DERIVATIONAL_SUFFIXES = ("ers", "er", "ors", "or", "ings", "ing", "ments", "ment", "ships", "ship",
                         "ness", "ities", "ity", "ists", "ist", "isms", "ism", "ians", "ian", "ial",
                         "ally", "al", "ly", "ive", "ous", "ations", "ation", "ions", "ion", "ance",
                         "ence", "ant", "ent", "ures", "ure", "ed", "es", "s", "ic", "ical", "y")
# A root shorter than this is too often two words' accident ("car" in "career", "care").
_ROOT_LETTERS = 4
# The shortest part a word joined of two ("carmaking", "shareholder") is split into.
_PART_LETTERS = 3


def roots(word: str) -> set[str]:
    """The roots a word may be derived from: itself, and itself less one derivational suffix (with
    the "e" a suffix opening with a vowel drops put back: "making" gives "make")."""
    found = {word}
    for suffix in DERIVATIONAL_SUFFIXES:
        root = word[:-len(suffix)]
        if not word.endswith(suffix):
            continue
        if len(root) >= _ROOT_LETTERS:
            found.add(root)
        if suffix[0] in "aeiouy" and len(root) >= _ROOT_LETTERS - 1 and not root.endswith("e"):
            found.add(root + "e")
    return found


def root_index(words: Iterable[str]) -> dict[str, list[str]]:
    """Each root of `words` with the words derived from it (for `word_forms`)."""
    index: dict[str, list[str]] = {}
    for word in words:
        for root in roots(word):
            index.setdefault(root, []).append(word)
    return index


def word_forms(word: str, index: dict[str, list[str]]) -> list[str]:
    """The words of a `root_index` sharing a root with `word` ("founder": "founded"), or, for a
    word joined of two ("carmaking"), sharing one with each of its parts ("car", "makers")."""
    forms = list(dict.fromkeys(w for root in roots(word) for w in index.get(root, []) if w != word))
    if forms:
        return forms
    for cut in range(_PART_LETTERS, len(word) - _PART_LETTERS + 1):
        left = [w for root in roots(word[:cut]) for w in index.get(root, [])]
        right = [w for root in roots(word[cut:]) for w in index.get(root, [])]
        if left and right:
            return list(dict.fromkeys(left + right))
    return []


def known_name(word: str, names: Iterable[str]) -> bool:
    """Whether a name the text never spells out is one of `names` abbreviated or misspelt."""
    return any(abbreviates(word, name) or misspells(word, name) for name in names)


# A number: figures, or a count in words ("two new vehicles", "a dozen").
NUMBER = r"\b(?:\d[\d.,]*|" + "|".join([*UNITS, "dozen", "hundred"]) + r")\b"
# Units a measured quantity is given in, after its figure ("400 kW", "4.65 EJ", "3.5-mile").
MEASURE_UNITS = ["[kMGT]?W[hp]?", "[kMGTPE]?J", "[mk]?[gLlm]", "m[23]", "km[23]?", "sq", "ft", "mi",
                 "miles?", "mph", "tons?", "tonnes?", "gal(?:lons?)?", "barrels?", "acres?",
                 "hectares?", "ha", "kilo(?:gram|metre|meter|watt)s?", "(?:metre|meter)s?", "litres?",
                 "liters?", "pounds?", "lbs?", "ounces?", "oz", "feet", "foot", "inch(?:es)?",
                 "degrees?", "°[CF]?"]
# Currencies named after their figure ("5,000 francs", "3 million yen").
CURRENCIES = ["dollars?", "euros?", "francs?", "yen", "yuan", "renminbi", "rupees?", "pesos?",
              "r[ou]bles?", "shillings?", "lire", "kron(?:a|or|e|er)", "marks?", "guineas?"]
# What a sentence holding each kind of answer contains.
# Kinds of money a question can name, whose figure a case may give for one thing and not for
# another (a car's price, a group's revenue): a figure answers only when it is said of what the
# question asks about.
_MEASURED = ("price", "cost", "valuation", "revenue", "turnover", "profit", "salary", "wage", "fee",
             "budget", "margin", "income", "sales", "spending")
ANSWER_TYPES = {
    # A year of any era ("821", "1409", "2023"; not "5.5" or "2,000"), a decade or century, or a
    # month; month names only capitalised, as "may" and "march" are also a verb and a noun.
    "date": re.compile(r"(?<![\d.,$€£¥])\b\d{3,4}(?:s|\s?(?:AD|BC|BCE|CE))?\b(?![.,]\d|\s?%)"
                       r"|\b\d{1,2}(?:st|nd|rd|th)[ -]century\b|\b(?:" + "|".join(MONTH_NAMES) + r")\b"),
    # An amount is money, a share or a measured quantity ("$700 million", "5%", "1/3", "two-thirds",
    # "three out of five", "5,000 francs", "400 kW", "22,700 L"); a count is how many of something.
    # No word boundary after "%": "5% stake".
    "amount": re.compile(r"[$€£¥]\s?\d|\b\d[\d.,]*\s?(?:%|(?:percent|million|billion|thousand)\b)"
                         r"|\b\d+/\d+\b|\b(?:half|a third|a quarter)\b"
                         r"|" + NUMBER + r"\s+(?:out of|in)\s+(?:every\s+)?(?!\d{3,4}\b)" + NUMBER +
                         r"|" + NUMBER + r"[\s-](?:halves|thirds?|quarters?|fifths?|tenths?)\b" +
                         r"|\b\d[\d.,]*\s+(?:(?:million|billion|thousand)\s+)?(?:"
                         + "|".join(CURRENCIES) + r")\b"
                         r"|\b\d[\d.,]*[\s-]?(?:" + "|".join(MEASURE_UNITS) + r")(?![\w-])"
                         # A figure right after a kind of money, as an exhibit's row gives it with
                         # the unit in its header ("2021: Revenue 1,912").
                         r"|\b(?:" + "|".join(_MEASURED) + r")s?:?\s+\d", re.I),
    "count": re.compile(NUMBER, re.I),
    # An age or a duration ("a 90-year-old firm", "three years", "six hours to two days").
    "age": re.compile(r"\b[\w-]+-year-old\b|\b[\w-]+\s+(?:years?|months?|weeks?|days?|hours?|minutes?"
                      r"|seconds?|decades?)\b|\bdecades?\b|\bcentur(?:y|ies)\b", re.I),
    # A person or an organisation: a capitalised word that does not open the sentence, or the
    # role a person holds ("its founder", "the chief executive"), which is how cases often name
    # one.
    "name": re.compile(r"(?<!^)(?<![.!?]\s)\b(?P<name>[A-Z][a-zA-Z]+)"
                       r"|\b(?P<role>(?:co-?)?founders?|chief\s+(?:\w+\s+officer|executives?)|C[EFOT]O|chair(?:man|woman)?"
                       r"|president|directors?|managers?|executives?|owners?|ministers?|heads? of"
                       r"|partners?|investors?|entrepreneurs?|engineers?|consultants?|bankers?"
                       r"|mogul|tycoon|veteran)\b"),
    # A place: a capitalised name after a preposition of place, or before "-based".
    "place": re.compile(r"\b(?:in|from|at|near|outside|based in|headquartered in|located in)\s+"
                        r"(?:the\s+)?(?P<name>[A-Z][a-zA-Z]+)|\b(?P<based>[A-Z][a-zA-Z]+)-based\b"),
    # A reason: a clause of cause or purpose ("because", "so that", "in order to", "due to").
    "reason": re.compile(r"\b(?:because|so that|so as to|in order to|due to|owing to|thanks to"
                         r"|as a result|result(?:ed|ing)? from|led (?:to|them|him|her|it)|driven by"
                         r"|reasons?|motivat\w+|aim(?:ed|ing)? to|since (?!\d)|for fear)\b", re.I),
}
# Where a capitalised word names a place or a unit rather than who did something: after a
# preposition of place ("in Europe", "from Rotterdam") or before a figure ("EUR 900"). The match
# stands at the NUL character.
_NOT_A_PERSON = re.compile(r"\b(?:in|at|from|near|to)\s+(?:the\s+)?\0|\0\s*\d")
# Kinds of answer that name something: the name must be one the question does not itself give
# (the answer to "Where is Acme based?" is not a sentence saying "in Acme's view").
NAMING_TYPES = frozenset({"name", "place"})
# Kinds of answer a sentence often gives without any cue word ("They needed a shortcut." says why):
# a cue makes a sentence likelier to answer, its absence does not make it unlikelier.
OPTIONAL_TYPES = frozenset({"reason"})
# Kinds of answer the case must give outright: without one, the case does not answer.
STRICT_TYPES = frozenset({"date", "amount", "count", "age"})
# ... and the verbs that ask for one ("How much did it cost?", "How much did they spend?").
_MEASURING = ("cost", "spend", "spent", "charge", "earn", "pay", "paid", "sell", "sold")
MEASURE_TERMS = frozenset(stem(word) for word in _MEASURED + _MEASURING)
# Up to three words saying whose or which quantity ("Acme's total revenue", "the group's net
# profit"); never across a preposition ("the reason for the price cut" asks for no figure).
_QUANTITY_WORDS = r"(?:(?!(?:of|for|behind|about|in|on|to|with|from|and|or)\b)[\w'’-]+ ){0,3}"
# What asks for each kind of answer, read where the question's first question word opens it
# ("What did buyers think they were getting when ...?" asks what, not when), in the order tried.
_TYPE_CUES = [
    ("age", re.compile(r"how (?:old|long)\b", re.I)),
    ("date", re.compile(r"when\b|(?:what|which) (?:year|date|day|month)\b", re.I)),
    ("count", re.compile(r"how many\b|what number\b", re.I)),
    # A quantity is also asked for by naming one ("What was the retail price?", "What is its
    # revenue?"): the answer is a figure just the same.
    ("amount", re.compile(r"how much\b|what (?:size|fraction|percentage|proportion|amount|sum|share)\b"
                          r"|what (?:is|was|are|were|will be) (?:the |its |their |his |her )?"
                          + _QUANTITY_WORDS + r"(?:" + "|".join(_MEASURED) + r")s?\b", re.I)),
    ("place", re.compile(r"where\b|(?:which|what) (?:city|country|region|town|place|state|province"
                         r"|continent)\b", re.I)),
    # A person or an organisation, asked for by "who" or by naming what kind of one it is.
    ("name", re.compile(r"who(?:m|se)?\b|(?:which|what) (?:company|companies|person|people|firm|firms"
                        r"|brand|bank|organi[sz]ation|group|supplier|partner|rival|competitor"
                        r"|investor|buyer|customer|executive|manager|founder|individual)\b", re.I)),
    # A reason, asked for by "why" or by what brought something about.
    ("reason", re.compile(r"why\b|what (?:made|led|caused|drove|prompted|motivated)\b"
                          r"|for what reason\b|how come\b", re.I)),
]
# A name is also asked for without a question word at the start of the ask ("... is it called?").
_NAME_ASKED = re.compile(r"\bnames? of\b|\bcalled\b", re.I)
# Words that name no topic of their own: a question using them asks about something else.
_LIGHT = frozenset("""self kind sort type thing things way ways part whole lot put get got make made
    take took go went come came find found end ended use used using help helped happen happened
    according exactly really actually mean means first second main new old say says said call
    calls called describe described describes realize realized learn learned know knew think
    thought see saw need needed want wanted consider considered
    itself himself herself themselves myself yourself ourselves""".split())
# Cue words of the answer type ("how much", "what size"): not the topic of the question.
_CUES = frozenset("""much many old long size fraction percentage proportion amount sum number share
    year date day month city country place time""".split())
_WH = frozenset("what which who whom where when how".split())  # not "why": it asks for reasons
# Where a question's ask opens: its first question word, "why" and "whose" included.
_QUESTION_WORD = re.compile(rf"\b(?:{'|'.join(sorted(_WH | {'why', 'whose'}))})\b", re.I)
_HOW_MANY = re.compile(r"\bhow many\s+(.*)", re.I)
# Words asking for more than one thing ("the two benefits", "both").
_SEVERAL = frozenset("two three four five several both".split())
# A list item's opening: "First, ...", "Secondly, ...".
ORDINAL_OPENING = re.compile(r"^(" + "|".join(ORDINALS) + r")(?:ly)?\b", re.I)
# A question asking to put several things together: the answer may draw on several paragraphs.
SYNTHESIS = re.compile(r"\b(?:and (?:what|how|why|who|when|where|which)|summari[sz]e|compare|differ|"
                        r"both|change[ds]?|overall|benefits|problems|reasons)\b", re.I)
# How many of the words after the question word make a question's topic.
_FOCUS_WORDS = 2


def focus_words(question: str) -> list[str]:
    """The first words after a question's question word (after "how" and its degree word), without
    names and small words."""
    words = tokens(question)
    start = next((i for i, w in enumerate(words) if w in _WH), None)
    if start is None:
        return []
    names = {w.lower() for w in names_in(question)}
    # "How good", "how quickly": the word after "how" asks for a degree; it names no topic.
    start += 1 if words[start] == "how" else 0
    return [w for w in words[start + 1:] if w.isalpha() and w not in STOPWORDS and w not in _LIGHT
            and w not in _CUES and w not in names][:_FOCUS_WORDS]


def counted_noun(question: str) -> str:
    """What a "how many" question counts, or "": the first plural in the words that follow it
    ("How many unfinished pieces did ..." counts pieces), else the first of them ("How many
    people live ..." counts people)."""
    match = _HOW_MANY.search(question)
    if match is None:
        return ""
    phrase: list[str] = []
    for word in tokens(match.group(1)):
        if not word.isalpha() or word in STOPWORDS:
            break
        if word not in _LIGHT:
            phrase.append(word)
    return next((w for w in phrase if _plural(w)), phrase[0] if phrase else "")


def _plural(word: str) -> bool:
    """Whether a word looks like a regular plural ("pieces", "states"; not "glass", "bus")."""
    return len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is"))


def asks_for_several(question: str) -> bool:
    """Whether a question asks for more than one thing ("What were the two benefits?",
    "Which reasons ...")."""
    words = [w for w in tokens(question) if w.isalpha()]
    return any(w in _SEVERAL for w in words) or any(_plural(w) and w not in STOPWORDS for w in words)


def asked_ordinal(question: str) -> str | None:
    """The ordinal a question asks about ("What was the second benefit?" asks about "second")."""
    return next((w for w in tokens(question) if w in ORDINALS), None)


def holds_answer(kind: str, sentence: str, asked: Collection[str]) -> bool:
    """Whether `sentence` holds the kind of answer asked for; for a name or a place, one whose
    words are not all among the question's own (`asked`, stemmed): a question's own names do
    not answer it."""
    pattern = ANSWER_TYPES[kind]
    if kind not in NAMING_TYPES:
        return pattern.search(sentence) is not None
    for match in pattern.finditer(sentence):
        named = next(group for group in match.groups() if group)
        if kind == "name" and _NOT_A_PERSON.search(sentence[:match.start()] + "\0" + sentence[match.end():]):
            continue
        if any(stem(word) not in asked for word in tokens(named)):
            return True
    return False


# What a question counts without naming the kind ("how many people", "how many times"): a case
# counts the kind ("310 employees", "four staff", "eleven trips"), so any count answers it.
GENERIC_COUNTED = frozenset({"people", "persons", "individuals", "times"})
# A number followed by a word: a count of something ("310 employees", "eleven trips").
_COUNT_OF = re.compile(r"(?:\b\d[\d,]*|\b(?:" + "|".join(w for w in UNITS if UNITS[w] > 1) + r"|dozen)\b)"
                       r"(?=\s+[A-Za-z])", re.I)
_YEAR = re.compile(r"^(?:1[89]|20)\d\d$")


def counts_something(sentence: str) -> bool:
    """Whether `sentence` gives a count of some kind of thing: a number of at least two followed by
    a word, that is not a year, an amount ("$5 million", "22%", "24,000 tonnes") or a duration
    ("three years")."""
    taken = [m.span() for kind in ("amount", "age") for m in ANSWER_TYPES[kind].finditer(sentence)]
    return any(not _YEAR.match(m.group()) and not any(a < m.end() and m.start() < b for a, b in taken)
               for m in _COUNT_OF.finditer(sentence))


def expected_type(question: str) -> str | None:
    """The kind of answer a question asks for (date, age, count, amount, place, name, reason),
    or None."""
    opening = _QUESTION_WORD.search(question)
    asked = question[opening.start():] if opening else ""
    kind = next((kind for kind, cue in _TYPE_CUES if cue.match(asked)), None)
    return kind or ("name" if _NAME_ASKED.search(question) else None)
