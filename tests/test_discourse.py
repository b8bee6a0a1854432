"""Reading a case as connected text: sentences that lean on the one before them, paragraphs that
go on from the previous one, lists ("First, ... Second, ..."), follow-ups that replace part of the
earlier question, and opening connectives that would dangle in an answer.

The pure-logic tests run without the model; the rest use the real model and a real Chroma store
holding the bundled case.
"""

from __future__ import annotations

import pytest

from bot.answer import Turn
from bot.answerers.extractive import without_connective
from bot.lang.english import (
    abbreviates,
    expected_type,
    focus_words,
    known_name,
    misspells,
    names_in,
    with_slips_corrected,
    with_two_letters_swapped,
)
from bot.rag.chain import CaseBot
from bot.rag.conversation import resolve_question
from vectorstore.hybrid import hybrid_search, with_neighbours
from vectorstore.store import CaseLibrary
from vectorstore.text import continues_previous, sentences

VOCABULARY = frozenset({"benefit", "strateg", "deal", "xpeng", "volkswagen", "gain"})


@pytest.mark.parametrize(("sentence", "leans_on_previous"), [
    ("They demanded intuitive software.", True),
    ("That decision, once questioned by investors, was now the company's crown jewel.", True),
    ("Second, it provided an invaluable stamp of approval.", True),
    ("It was no longer just a \"Tesla clone\".", True),
    ("But He Xiaopeng had something Volkswagen desperately needed.", True),
    # "He" opening a name, a demonstrative before a name, and plain openings stand alone.
    ("He Xiaopeng had to convince the German auto giant.", False),
    ("This Volkswagen deal was a monumental achievement.", False),
    ("The core of the deal was a strategic and technological partnership.", False),
    ("Financially, the $700 million investment provided a welcome capital injection.", False),
    ("Theory aside, the deal mattered.", False),
])
def test_continues_previous(sentence: str, leans_on_previous: bool) -> None:
    assert continues_previous(sentence) is leans_on_previous


def test_names_in_skips_sentence_openings() -> None:
    assert names_in("Which label did XPeng shed? Tesla was a rival.") == ["XPeng"]
    assert names_in("What did he gain from Volkswagen and XPeng?") == ["Volkswagen", "XPeng"]


@pytest.mark.parametrize(("short", "name", "expected"), [
    ("VW", "Volkswagen", True), ("NYC", "New York City", True), ("GM", "General Motors", True),
    ("IBM", "International Business Machines", True),
    ("VW", "Wolfsburg", False),  # the first letter must open the name
    ("WV", "Volkswagen", False),  # the letters in order
    ("Vw", "Volkswagen", False),  # one capital: a word, not an abbreviation
    ("ABCDEF", "A Big Company Doing Everything Fast", False),  # longer than five letters
    ("NY", "NY", False),  # the name must be longer than its abbreviation
])
def test_abbreviates(short: str, name: str, expected: bool) -> None:
    assert abbreviates(short, name) is expected


@pytest.mark.parametrize(("word", "name", "expected"), [
    ("Volkswagon", "Volkswagen", True), ("Toyata", "Toyota", True),
    ("Tokyo", "Toyota", False), ("Tesla", "Tesco", False),
    ("Ford", "Fort", False),  # too short to tell a typo from another name
    ("Volkswagen", "Volkswagen", False),  # the same spelling is no misspelling
])
def test_misspells(word: str, name: str, expected: bool) -> None:
    assert misspells(word, name) is expected


def test_known_name_checks_every_name() -> None:
    names = ["General Motors", "Detroit", "Volkswagen"]
    assert known_name("GM", names) and known_name("Volkswagon", names)
    assert not known_name("Tesla", names) and not known_name("BMW", names)


@pytest.mark.parametrize(("question", "topic"), [
    ("How good were they considered to be?", []),
    ("What did that say about the firm itself?", ["firm"]),
    ("How quickly did sales grow?", ["sales", "grow"]),
])
def test_a_degree_word_or_a_reflexive_pronoun_is_no_topic(question: str, topic: list[str]) -> None:
    assert focus_words(question) == topic


@pytest.mark.parametrize(("question", "kind"), [
    ("When did the company go public?", "date"),
    ("The factory opened in what year?", "date"),
    ("How much did the buyer pay when it took over?", "amount"),
    ("So what did shoppers think they were getting when they bought one?", None),
    ("What happened when the plant closed?", None),
    ("What did the manager who was hired change?", None),
    ("Who signed the deal?", "name"),
    ("What was the new line of scooters called?", "name"),
    ("In which city is the firm based?", "place"),
])
def test_the_answer_type_is_read_from_the_question_word_that_opens_the_ask(question: str,
                                                                           kind: str | None) -> None:
    assert expected_type(question) == kind


@pytest.mark.parametrize(("kind", "sentence", "holds"), [
    # A share is an amount wherever the "%" stands ("5% stake": no word boundary after "%").
    ("amount", "Crime fell more than 75% from 1993 to 2005.", True),
    ("amount", "The fund bought a nearly 5% stake.", True),
    ("amount", "It paid $700 million.", True),
    ("amount", "Bare trees shade 1/3 to 1/2 of the light.", True),
    ("amount", "The plant produced up to 22,700 L a day from 400 kW of panels.", True),
    ("amount", "The creek is a 3.5-mile estuary.", True),
    ("amount", "The funeral, amounting to 5,000 francs, was paid by a friend.", True),
    ("amount", "Three out of five residents were graduates, one in every four a postgraduate.", True),
    ("amount", "Two-thirds of the riders live in the region.", True),
    ("amount", "The firm was founded in 2011 by 3 engineers.", False),
    ("amount", "Two of the five founders left in 2014.", False),
    ("amount", "The team won three in 2014 and two in 2015.", False),
    # "How long" asks for a duration as well as an age.
    ("age", "Exposure lasts from six hours to two days.", True),
    ("age", "The brand is 90 years old and its founder a 70-year-old.", True),
    ("age", "The plant opened in 2011.", False),
])
def test_what_a_sentence_holding_each_kind_of_answer_contains(kind: str, sentence: str,
                                                             holds: bool) -> None:
    from bot.lang.english import ANSWER_TYPES

    assert bool(ANSWER_TYPES[kind].search(sentence)) == holds


def test_with_two_letters_swapped() -> None:
    assert "complain" in with_two_letters_swapped("compalin")
    assert "lawyer" in with_two_letters_swapped("laywer")
    assert with_two_letters_swapped("stock") == ["tsock", "sotck", "stcok", "stokc"]
    assert with_two_letters_swapped("all") == ["lal"]  # a doubled letter swapped is no change


def test_with_slips_corrected() -> None:
    vocabulary = frozenset({"negoti", "invest", "xpeng", "volkswagen", "use"})
    english = frozenset({"negotiations", "invest", "sued", "used", "trip"})
    assert with_slips_corrected("What were the negotaitions like?", vocabulary, english) == \
        "What were the negotiations like?"
    # Capitals are kept, and words the vocabulary has, small words and words no swap explains stay.
    assert with_slips_corrected("Did Volkswagen ivnest in Xepng or XPNEG?", vocabulary, english) == \
        "Did Volkswagen invest in Xpeng or XPENG?"
    assert with_slips_corrected("Who wnet on the zqxvbn trip?", vocabulary, english) == \
        "Who wnet on the zqxvbn trip?"
    # A real word is no slip, though the case has only its swapped twin ("used").
    assert with_slips_corrected("Who sued Apple?", vocabulary, english) == "Who sued Apple?"


@pytest.mark.parametrize(("sentence", "expected"), [
    ("But the plan failed.", "The plan failed."),
    ("However, sales rose 5%.", "Sales rose 5%."),
    ("As a result, the firm grew.", "The firm grew."),
    ("Butter prices rose.", "Butter prices rose."),  # a word that only starts like one
    ("The plan failed.", "The plan failed."),
])
def test_without_connective(sentence: str, expected: str) -> None:
    assert without_connective(sentence) == expected


@pytest.mark.parametrize(("previous", "follow_up", "kept", "dropped"), [
    ("What was the first strategic benefit of the deal for XPeng?", "And the second one?",
     {"second", "strategic", "benefit", "XPeng"}, {"first"}),
    ("What did XPeng gain from the deal?", "What about Volkswagen?",
     {"Volkswagen", "gain", "deal"}, {"XPeng"}),
    ("What did XPeng gain from the deal?", "And why?", {"why", "XPeng", "gain", "deal"}, set()),
])
def test_follow_up_drops_what_it_replaces(previous: str, follow_up: str, kept: set[str],
                                          dropped: set[str]) -> None:
    history = (Turn("user", previous), Turn("assistant", "…"))
    words = set(resolve_question(follow_up, history, VOCABULARY).replace("?", " ").split())
    assert kept <= words and not dropped & words, words


def test_self_contained_questions_ignore_history() -> None:
    history = (Turn("user", "What did XPeng gain from the deal?"), Turn("assistant", "…"))
    question = "How much did Volkswagen invest in XPeng?"
    assert resolve_question(question, history, VOCABULARY) == question


@pytest.mark.model
def test_paragraphs_that_go_on_from_the_previous_one(library: CaseLibrary) -> None:
    case = library.load("xpeng-volkswagen")
    # ¶16 ends "But the strategic value was far more significant."; ¶17 opens "First, it was ...",
    # ¶18 "Second, it provided ..."; ¶9 opens "But He Xiaopeng had ..." after ¶8.
    assert [p for p in sorted(case.paragraphs) if case.continued_by(p)] == [8, 16, 17]
    assert with_neighbours(case, [18]) == [18, 17, 16]
    assert with_neighbours(case, [16, 12]) == [16, 12, 17, 18]
    demanded = case.sentences_of(6)[1]  # "They demanded intuitive software, ..."
    assert case.texts[demanded].startswith("They demanded")
    assert case.leans_on(demanded) == case.sentences_of(6)[0]
    assert case.leans_on(case.sentences_of(6)[0]) is None  # "Chinese consumers were ..." stands alone
    # Headings end a section: ¶14 (last of Act II) is not continued by ¶15 (first of the Epilogue).
    assert case.next_sentence(case.sentences_of(14)[-1]) is None


@pytest.mark.model
def test_retrieval_brings_the_rest_of_a_list(library: CaseLibrary) -> None:
    case = library.load("xpeng-volkswagen")
    query = "But the strategic value was far more significant"
    vector = library.embeddings.encode_query(query)
    hits = [hit.paragraph for hit in hybrid_search(library.embeddings, case, query, vector, k=1)]
    assert hits == [16, 17, 18]


@pytest.mark.model
def test_a_sentence_comes_with_the_one_it_leans_on(casebot: CaseBot) -> None:
    answer = casebot.ask("What did Chinese consumers demand?")
    first, second = sentences(answer.answer)[:2]
    assert first.startswith("Chinese consumers were no longer just buying")
    assert second.startswith("They demanded intuitive software")
    assert [c.paragraph for c in answer.citations] == [6]


@pytest.mark.model
def test_a_list_is_answered_whole(casebot: CaseBot) -> None:
    answer = casebot.ask("What were the two strategic benefits for XPeng?")
    assert "ultimate validation" in answer.answer and "stamp of approval" in answer.answer
    assert answer.answer.index("First, it was") < answer.answer.index("Second, it provided")
    assert [c.paragraph for c in answer.citations][:2] == [17, 18]


@pytest.mark.model
@pytest.mark.parametrize(("follow_up", "item", "other"), [
    ("What was the second one?", "stamp of approval", "ultimate validation"),
    ("And the first?", "ultimate validation", "stamp of approval"),
])
def test_one_item_of_a_list_is_answered_alone(casebot: CaseBot, follow_up: str, item: str,
                                              other: str) -> None:
    history = [Turn("user", "What were the two strategic benefits for XPeng?"),
               Turn("assistant", "First, it was the ultimate validation [¶17]. Second, it provided an "
                                 "invaluable stamp of approval [¶18].")]
    answer = casebot.ask(follow_up, history)
    assert item in answer.answer and other not in answer.answer, answer.answer


@pytest.mark.model
def test_a_question_wanting_an_amount_gets_a_paragraph_that_has_one(library: CaseLibrary) -> None:
    from bot.lang.english import ANSWER_TYPES

    case = library.load("xpeng-volkswagen")
    # The words ("money", "carmaker", "startup") match the deal's amounts poorly; the paragraph
    # stating an amount about money ("Financially, the $700 million investment ...") is added.
    query = "How much money did the German carmaker put into the Chinese startup?"
    vector = library.embeddings.encode_query(query)
    plain = [h.paragraph for h in hybrid_search(library.embeddings, case, query, vector)]
    typed = [h.paragraph for h in hybrid_search(library.embeddings, case, query, vector,
                                                answer_pattern=ANSWER_TYPES["amount"])]
    assert typed[:5] == plain[:5]  # the top five stay as they were
    assert {12, 16} & set(typed)  # and a paragraph stating the amount is among what is retrieved


@pytest.mark.model
def test_a_paraphrased_amount_question_is_answered(casebot: CaseBot) -> None:
    answer = casebot.ask("How much money did the German carmaker put into the Chinese startup?")
    assert "$700 million" in answer.answer and not answer.abstained


@pytest.mark.model
@pytest.mark.parametrize("question", [
    "In what year will the two co-developed vehicles launch?",
    "When will the new cars launch?",
    "How many employees does XPeng have?",
])
def test_a_question_wanting_a_date_or_number_the_case_lacks_abstains(casebot: CaseBot,
                                                                    question: str) -> None:
    answer = casebot.ask(question)
    assert answer.abstained, answer.answer
    assert answer.citations == ()
