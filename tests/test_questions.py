"""Loading question sets: JSONL and CSV, and clear errors naming the file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.answer import Turn
from bot.errors import QuestionSetError
from bot.evaluation.questions import CATEGORIES, Question, load_questions
from bot.settings import BUNDLED_CASES

FOLLOW_UP = {"id": "q07", "question": "When was that announced?",
             "history": [{"role": "user", "content": "How much did Volkswagen invest?"},
                         {"role": "assistant", "content": "$700 million [¶12]."}],
             "answerable": True, "reference_answer": "On July 26, 2023.",
             "expected_paragraphs": [12], "must_include": ["July 26, 2023"], "category": "follow-up"}
EXPECTED = Question(
    "q07", "When was that announced?",
    history=(Turn("user", "How much did Volkswagen invest?"), Turn("assistant", "$700 million [¶12].")),
    answerable=True, reference_answer="On July 26, 2023.", expected_paragraphs=(12,),
    must_include=("July 26, 2023",), category="follow-up")


def _jsonl(tmp_path: Path, *lines: object, name: str = "q.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
                    encoding="utf-8")
    return path


def _error(path: Path) -> QuestionSetError:
    with pytest.raises(QuestionSetError) as info:
        load_questions(path)
    return info.value


def test_jsonl_full_and_minimal_questions(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, FOLLOW_UP, "", {"id": "q08", "question": "Who is He Xiaopeng?"})
    first, second = load_questions(path)
    assert first == EXPECTED and first.line == 1
    assert second == Question("q08", "Who is He Xiaopeng?") and second.line == 3
    assert second.answerable and second.category == "uncategorized"


def test_csv_with_json_cells(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text(
        "id,question,history,answerable,reference_answer,expected_paragraphs,must_include,category\n"
        'q07,When was that announced?,"[{""role"": ""user"", ""content"": ""How much did Volkswagen '
        'invest?""}, {""role"": ""assistant"", ""content"": ""$700 million [¶12].""}]",true,'
        '"On July 26, 2023.",[12],"[""July 26, 2023""]",follow-up\n', encoding="utf-8")
    assert load_questions(path) == (EXPECTED,)


def test_csv_with_semicolon_lists_and_few_columns(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("\ufeffquestion,id,expected_paragraphs,must_include,answerable,\n"
                    "How much?,a1,12; 16,$700 million;5%,yes,\n"
                    ",,,,,\n"
                    "Revenue?,a2,,,no,\n", encoding="utf-8")
    first, second = load_questions(path)
    assert first.expected_paragraphs == (12, 16) and first.must_include == ("$700 million", "5%")
    assert first.line == 2
    assert not second.answerable and second.expected_paragraphs == () and second.line == 4


def test_csv_multiline_cell_reports_the_starting_line(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text('id,question,expected_paragraphs\n'
                    'a1,"A question\nover two lines",12\n'
                    'a2,Another,twelve\n', encoding="utf-8")
    error = _error(path)
    assert error.problems == [(4, "'expected_paragraphs' must hold paragraph numbers (1, 2, ...), "
                                  "got 'twelve'")]


def test_bad_lines_are_all_reported_with_line_numbers(tmp_path: Path) -> None:
    path = _jsonl(tmp_path,
                  {"id": "q1", "question": "Fine?"},
                  "{not json",
                  {"id": "q3"},
                  ["a", "list"],
                  {"id": "q5", "question": "Typo?", "expected_paragraph": [3]},
                  {"id": "q1", "question": "Again?"},
                  {"id": "q7", "question": "x", "history": [{"role": "system", "content": "hi"}]},
                  {"id": "q8", "question": "x", "answerable": False, "expected_paragraphs": [2]},
                  {"id": "q9", "question": "x", "must_include": "July"},
                  {"id": "q10", "question": "x", "expected_paragraphs": [0]},
                  {"id": "q11", "question": "x", "answerable": "maybe"})
    error = _error(path)
    lines = [line for line, _ in error.problems]
    assert lines == [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]
    text = str(error)
    assert f"{path}:2: not valid JSON" in text
    assert f"{path}:3: 'question' is required" in text
    assert f"{path}:4: expected a JSON object, got list" in text
    assert "unknown field 'expected_paragraph'" in text
    assert f"{path}:6: duplicate id 'q1' (first used on line 1)" in text
    assert "history[0].role must be 'user' or 'assistant'" in text
    assert "unanswerable question cannot have expected_paragraphs" in text
    assert "'must_include' must be a list of strings" in text
    assert "'answerable' must be true or false" in text
    assert error.line == 2


def test_csv_header_problems(tmp_path: Path) -> None:
    no_question = tmp_path / "a.csv"
    no_question.write_text("id,text\nq1,hello\n", encoding="utf-8")
    assert "no 'question' column" in str(_error(no_question))
    unknown = tmp_path / "b.csv"
    unknown.write_text("id,question,notes\nq1,hello,x\n", encoding="utf-8")
    assert f"{unknown}:1: unknown column 'notes'" in str(_error(unknown))
    extra = tmp_path / "c.csv"
    extra.write_text("id,question\nq1,hello,surplus\n", encoding="utf-8")
    assert f"{extra}:2: 3 cells but the header has 2 columns" in str(_error(extra))


def test_duplicate_ids_in_csv(tmp_path: Path) -> None:
    path = tmp_path / "q.csv"
    path.write_text("id,question\nq1,One?\nq2,Two?\nq1,Three?\n", encoding="utf-8")
    assert _error(path).problems == [(4, "duplicate id 'q1' (first used on line 2)")]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("q.txt", "x", "unsupported file type .txt"),
    ("empty.jsonl", "\n\n", "holds no questions"),
    ("latin.jsonl", b"\xff\xfe{", "not UTF-8"),
    ("missing.jsonl", None, "no such file"),
])
def test_unusable_files(tmp_path: Path, name: str, content: str | bytes | None, message: str) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content, encoding="utf-8")
    assert message in str(_error(path))


def test_the_bundled_question_set_loads_and_is_complete() -> None:
    questions = load_questions(BUNDLED_CASES / "xpeng-volkswagen" / "questions.jsonl")
    assert len(questions) >= 60
    assert {q.category for q in questions} <= set(CATEGORIES)
    for question in questions:
        if question.answerable:
            assert question.expected_paragraphs and question.must_include and question.reference_answer
