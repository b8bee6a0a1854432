"""English number words, so that "four vehicles" and "4 vehicles" are the same claim.

A model paraphrasing a case writes numbers in words ("seven hundred million", "five per cent",
"a third"); citation checks compare values, so these words need their values.
"""

from __future__ import annotations

UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}
TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
        "eighty": 80, "ninety": 90}
# Words that multiply the number before them ("700 million", "seven hundred").
SCALES = {"hundred": 100, "thousand": 1_000, "million": 1_000_000, "billion": 1_000_000_000,
          "trillion": 1_000_000_000_000}
# Abbreviated scales written after figures ("$700m", "$1.2bn").
SCALE_SUFFIXES = {"k": 1_000, "m": 1_000_000, "mn": 1_000_000, "bn": 1_000_000_000, "b": 1_000_000_000}
# What an ordinal in figures ends in ("43rd", "5th").
ORDINAL_SUFFIXES = ("st", "nd", "rd", "th")
# Words that are a number by themselves.
COUNTS = {"dozen": 12, "half": 0.5}
# Ordinals that are fractions after "a" or "one" ("a third", "one fifth"); "a second" is time.
FRACTIONS = {"third": 3, "quarter": 4, "fourth": 4, "fifth": 5, "sixth": 6, "eighth": 8, "tenth": 10}
# Ordinals are numbers only in dates ("the twenty-sixth of July"); elsewhere "first" and "second"
# enumerate points and claim no value.
ORDINALS = {
    "first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7,
    "eighth": 8, "ninth": 9, "tenth": 10, "eleventh": 11, "twelfth": 12, "thirteenth": 13,
    "fourteenth": 14, "fifteenth": 15, "sixteenth": 16, "seventeenth": 17, "eighteenth": 18,
    "nineteenth": 19, "twentieth": 20, "thirtieth": 30,
}


def spelt_numbers(figure: str) -> tuple[str, ...]:
    """The words a case may write a small number in: "3" is "three" or "third" (cases spell out
    numbers below twenty); () for any other figure."""
    value = int(figure) if figure.isdigit() else -1
    return tuple(word for words in (UNITS, ORDINALS) for word, v in words.items() if v == value)


MONTH_NAMES = ("January", "February", "March", "April", "May", "June", "July", "August",
               "September", "October", "November", "December")
MONTHS = frozenset([*(name.lower() for name in MONTH_NAMES),
                    *"jan feb mar apr jun jul aug sep sept oct nov dec".split()])
PERCENT_WORDS = ("percent", "per cent", "percentage points")
# "one" is a pronoun or an article as often as a count: "one of the biggest names", "the one".
ONE_NOT_A_COUNT_AFTER = frozenset("of another".split())
ONE_NOT_A_COUNT_BEFORE = frozenset("the no any every each this that which no-one someone".split())
# Words that only state a number: a claim's numbers are compared by value, not as words.
NUMBER_WORDS = frozenset([*UNITS, *TENS, *SCALES, *COUNTS, *FRACTIONS, *ORDINALS, "percent", "cent", "dozens",
                          "hundreds", "thousands", "millions", "billions"])
