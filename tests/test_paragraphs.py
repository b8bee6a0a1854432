"""Paragraph and section detection (ingest/paragraphs.py) and sentence splitting (vectorstore/text.py).

Pure logic: no model, no store. The bundled case is parsed as the loader reads it, so offsets are
checked against the exact text that ingest stores.
"""

from __future__ import annotations

import pytest
from conftest import CASE_FILE, CASE_ID

from ingest.loaders import load_text
from ingest.paragraphs import EmptyCaseError, ParsedCase, parse_case
from vectorstore.text import sentences, split_sentences, tokens, without_accents

SECTIONS = [
    "Key Takeaways",
    "Prologue: The Legacy Giant's Dilemma",
    "Act I: The Courtship",
    "Act II: The Shocking Announcement",
    "Epilogue: The Ultimate Validation",
]
TITLE = "The Unlikely Alliance: How He Xiaopeng Forged a Landmark Partnership with Volkswagen"
# Paragraph numbers in each section of the bundled case (¶1, the title, has no section).
SECTION_PARAGRAPHS = {
    "": [1],
    "Key Takeaways": [2, 3, 4],
    "Prologue: The Legacy Giant's Dilemma": [5, 6, 7],
    "Act I: The Courtship": [8, 9, 10, 11],
    "Act II: The Shocking Announcement": [12, 13, 14],
    "Epilogue: The Ultimate Validation": [15, 16, 17, 18, 19],
}


@pytest.fixture(scope="module")
def case_text() -> str:
    """The bundled case exactly as the loader reads it."""
    return load_text(CASE_FILE)


@pytest.fixture(scope="module")
def case(case_text: str) -> ParsedCase:
    """The bundled case, parsed."""
    return parse_case(case_text, CASE_ID)


def test_bundled_case_has_nineteen_numbered_paragraphs(case: ParsedCase) -> None:
    assert case.case_id == CASE_ID
    assert len(case.paragraphs) == 19
    assert [p.number for p in case.paragraphs] == list(range(1, 20))


def test_title_is_paragraph_one(case: ParsedCase) -> None:
    assert case.title == TITLE
    first = case.paragraphs[0]
    assert (first.number, first.text, first.section) == (1, TITLE, "")


def test_sections_in_reading_order(case: ParsedCase) -> None:
    assert case.sections == SECTIONS


def test_headings_are_not_numbered(case: ParsedCase) -> None:
    texts = {p.text for p in case.paragraphs}
    assert not texts & set(SECTIONS)


def test_each_paragraph_in_its_section(case: ParsedCase) -> None:
    found: dict[str, list[int]] = {}
    for paragraph in case.paragraphs:
        found.setdefault(paragraph.section, []).append(paragraph.number)
    assert found == SECTION_PARAGRAPHS


def test_bullets_are_paragraphs_without_their_marker(case: ParsedCase, case_text: str) -> None:
    bullets = case.paragraphs[1:4]
    assert [p.text.split()[0] for p in bullets] == ["Technological", "In", "Strategic"]
    for paragraph in bullets:
        assert not paragraph.text.startswith("-")
        # The "- " marker sits just before the paragraph in the file.
        assert case_text[paragraph.start - 2:paragraph.start] == "- "


def test_paragraph_twelve_is_the_announcement(case: ParsedCase) -> None:
    twelve = case.paragraphs[11]
    assert twelve.number == 12
    assert twelve.section == "Act II: The Shocking Announcement"
    assert twelve.text.startswith("On July 26, 2023")
    assert "$700 million" in twelve.text and "5% stake" in twelve.text


def test_offsets_slice_back_to_the_paragraph_text(case: ParsedCase, case_text: str) -> None:
    previous_end = -1
    for paragraph in case.paragraphs:
        assert case_text[paragraph.start:paragraph.end] == paragraph.text
        assert paragraph.start > previous_end, "paragraphs overlap or are out of order"
        previous_end = paragraph.end


def test_every_line_of_the_file_is_a_paragraph_or_a_heading(case: ParsedCase, case_text: str) -> None:
    lines = [line.strip().removeprefix("- ") for line in case_text.splitlines() if line.strip()]
    assert len(lines) == 19 + len(SECTIONS)
    assert [line for line in lines if line in SECTIONS] == SECTIONS
    assert [line for line in lines if line not in SECTIONS] == [p.text for p in case.paragraphs]


def test_paragraph_hash_ignores_whitespace_only_changes(case: ParsedCase) -> None:
    twelve = case.paragraphs[11]
    again = parse_case("Title Line\nSection\n" + twelve.text.replace(" ", "  ") + "\n", "x")
    assert again.paragraphs[1].hash == twelve.hash
    assert case.paragraphs[12].hash != twelve.hash


MARKDOWN = """# Acme Rockets

## Background

Acme was founded in 1950. It makes rockets for Road Runner Inc. and others.

- First bullet point here.
* Second bullet point here.
1. A numbered item.

## The Deal ##

Acme sold a stake for $5 million.
"""


def test_markdown_headings_and_bullets() -> None:
    case = parse_case(MARKDOWN, "acme")
    assert case.title == "Acme Rockets"
    assert case.sections == ["Background", "The Deal"]
    assert [(p.number, p.section, p.text) for p in case.paragraphs] == [
        (1, "", "Acme Rockets"),
        (2, "Background", "Acme was founded in 1950. It makes rockets for Road Runner Inc. and others."),
        (3, "Background", "First bullet point here."),
        (4, "Background", "Second bullet point here."),
        (5, "Background", "A numbered item."),
        (6, "The Deal", "Acme sold a stake for $5 million."),
    ]
    for paragraph in case.paragraphs:
        assert MARKDOWN[paragraph.start:paragraph.end] == paragraph.text


WRAPPED = """Wrapped Case Title

Background

This paragraph is wrapped
over three lines of text
and ends here.

This is the second paragraph,
also wrapped over two lines.

Outcome

A final paragraph that is
wrapped too.
"""


def test_blank_line_separated_wrapped_paragraphs() -> None:
    case = parse_case(WRAPPED, "wrapped")
    assert case.title == "Wrapped Case Title"
    assert case.sections == ["Background", "Outcome"]
    assert [(p.number, p.section) for p in case.paragraphs] == [
        (1, ""), (2, "Background"), (3, "Background"), (4, "Outcome")]
    two = case.paragraphs[1]
    assert " ".join(two.text.split()) == (
        "This paragraph is wrapped over three lines of text and ends here.")
    assert " ".join(case.paragraphs[3].text.split()) == "A final paragraph that is wrapped too."
    for paragraph in case.paragraphs:
        assert WRAPPED[paragraph.start:paragraph.end] == paragraph.text


def test_windows_line_endings_keep_offsets() -> None:
    text = "Case Title\r\nSection One\r\nFirst paragraph here.\r\nSecond paragraph here.\r\n"
    case = parse_case(text, "crlf")
    assert [p.text for p in case.paragraphs] == [
        "Case Title", "First paragraph here.", "Second paragraph here."]
    assert case.sections == ["Section One"]
    for paragraph in case.paragraphs:
        assert text[paragraph.start:paragraph.end] == paragraph.text


def test_paragraphs_without_a_title_line_are_numbered_from_one() -> None:
    text = "This case opens straight with a sentence.\nAnd continues with another one.\n"
    case = parse_case(text, "untitled")
    assert case.title == "untitled"
    assert [(p.number, p.text) for p in case.paragraphs] == [
        (1, "This case opens straight with a sentence."), (2, "And continues with another one.")]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t\n"])
def test_empty_text_is_an_empty_case(text: str) -> None:
    with pytest.raises(EmptyCaseError):
        parse_case(text, "empty")


@pytest.mark.parametrize("text", [
    "# Only\n\n## Headings\n\n### Here\n",
    "# Title\n## Section\n",
    "A Lonely Title\n",
])
def test_only_headings_is_an_empty_case(text: str) -> None:
    with pytest.raises(EmptyCaseError):
        parse_case(text, "headings")


def test_empty_case_error_is_a_value_error() -> None:
    assert issubclass(EmptyCaseError, ValueError)


# Sentence splitting ---------------------------------------------------------------------------


def test_sentences_of_paragraph_twelve(case: ParsedCase) -> None:
    assert sentences(case.paragraphs[11].text) == [
        "On July 26, 2023, the two companies made a joint announcement that stunned the "
        "automotive world.",
        "Volkswagen would invest $700 million for a nearly 5% stake in XPeng.",
        "But this was far more than just a financial investment.",
    ]


def test_money_and_decimals_do_not_split() -> None:
    text = "Volkswagen paid $700 million. The stake was 4.99% of shares, or $0.7 billion."
    assert sentences(text) == [
        "Volkswagen paid $700 million.", "The stake was 4.99% of shares, or $0.7 billion."]


@pytest.mark.parametrize(("text", "expected"), [
    ("Mr. Smith met Dr. Jones. They agreed.", ["Mr. Smith met Dr. Jones.", "They agreed."]),
    ("Sales rose in the U.S. market. Costs fell.", ["Sales rose in the U.S. market.", "Costs fell."]),
    ("Acme Inc. and Beta Corp. merged. Shares rose.", ["Acme Inc. and Beta Corp. merged.",
                                                      "Shares rose."]),
    ("Partners, e.g. XPeng, help. Others do not.", ["Partners, e.g. XPeng, help.", "Others do not."]),
    ("He said J. Smith left. Nobody knew.", ["He said J. Smith left.", "Nobody knew."]),
    # A short word cut before a number, also inside brackets; a figure is no initial.
    ("It was Nocturne Op. 62 No. 2. A library holds it.",
     ["It was Nocturne Op. 62 No. 2.", "A library holds it."]),
    ("The Wanli Emperor (r. 1572–1620) wrote. Zhi Guang (d. 1435) went.",
     ["The Wanli Emperor (r. 1572–1620) wrote.", "Zhi Guang (d. 1435) went."]),
    ("It has three rivals (Vol. 2 names them). They grew.",
     ["It has three rivals (Vol. 2 names them).", "They grew."]),
    ("Profit was $1.58 billion. 42% of it came from music.",
     ["Profit was $1.58 billion.", "42% of it came from music."]),
    ("It topped the charts in the US. 4 also sold well.",
     ["It topped the charts in the US.", "4 also sold well."]),
    ("Singles were back. [...] Nobody came close.", ["Singles were back.", "[...] Nobody came close."]),
    ("Inspired by J.S. Bach, he wrote preludes. They sold.",
     ["Inspired by J.S. Bach, he wrote preludes.", "They sold."]),
])
def test_abbreviations_do_not_end_sentences(text: str, expected: list[str]) -> None:
    assert sentences(text) == expected


def test_question_and_exclamation_marks_end_sentences() -> None:
    assert sentences("Why now? Because China moved fast! It did.") == [
        "Why now?", "Because China moved fast!", "It did."]


def test_closing_quote_stays_with_its_sentence() -> None:
    text = 'It turned to a rival for its "brain." It was a clear signal.'
    assert sentences(text) == ['It turned to a rival for its "brain."', "It was a clear signal."]


def test_lower_case_continuation_does_not_split() -> None:
    assert sentences("The price was approx. seven hundred million. It closed.") == [
        "The price was approx. seven hundred million.", "It closed."]


def test_sentence_spans_are_trimmed_offsets_into_the_text() -> None:
    text = "  First one here.   Second one, $700 million.\n Third without a stop"
    spans = split_sentences(text)
    assert [text[a:b] for a, b in spans] == [
        "First one here.", "Second one, $700 million.", "Third without a stop"]
    assert all(text[a].strip() and text[b - 1].strip() for a, b in spans)


def test_no_sentences_in_blank_text() -> None:
    assert split_sentences("") == []
    assert split_sentences("  \n ") == []


def test_tokens_fold_accents_and_keep_words_of_any_alphabet() -> None:
    # A student types "Beyonce" and "Deja Vu" for the case's "Beyoncé" and "Déjà Vu".
    assert tokens("Beyoncé sang “Déjà Vu”") == tokens("Beyonce sang 'Deja Vu'") == \
        ["beyonce", "sang", "deja", "vu"]
    # Letters of their own are kept whole rather than cut into pieces ("gładkowska", not "g").
    assert tokens("Konstancja Gładkowska, 候顯, L'Oréal's") == ["konstancja", "gładkowska", "候顯", "l'oreal"]
    assert without_accents("Frédéric François") == "Frederic Francois"
    assert without_accents("plain") == "plain"
