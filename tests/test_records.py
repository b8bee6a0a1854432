"""The records database on SQLite and on a real PostgreSQL: answers, feedback, export, purge (by
age and by student), course scopes, revoked sessions, pseudonyms, the background writer (bad rows,
a database that is down), and the settings and session cookie around them."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy
from conftest import run_main

from bot.answer import Answer, Citation, Turn
from bot.errors import FeedbackError, UnknownAnswerError
from bot.records import AnswerRecord, Recorder, RecordScope, RecordStore
from bot.records.database import default_database_url, open_engine
from bot.records.export import csv_lines, export_row, jsonl_lines
from bot.records.recorder import open_recorder
from bot.records.repository import keyed_user_hash, new_answer_id
from bot.settings import Settings
from bot.web.feedback import rate_answer, unfinished

SECRET = "0123456789abcdef" * 4


def _record(question: str = "How much did Volkswagen invest?", *, case: str = "case-a",
            abstained: bool = False, days_ago: float = 0, channel: str = "api",
            history: tuple[Turn, ...] = ()) -> AnswerRecord:
    return AnswerRecord(
        id=new_answer_id(), asked_at=datetime.now(UTC) - timedelta(days=days_ago), case_id=case,
        question=question, history=history,
        answer="The case doesn't cover that." if abstained else "$700 million [¶12].",
        abstained=abstained, cited_paragraphs=() if abstained else (12,), backend="extractive",
        latency_ms=41.7, channel=channel, session_id="s1")


def _answer(case: str = "case-a") -> Answer:
    citation = Citation(id=f"{case}:12", label="¶12", paragraph=12, section="Act II", text="...",
                        score=0.8)
    return Answer(answer="$700 million [¶12].", abstained=False, citations=(citation,), case=case,
                  backend="extractive", latency_ms=12.3)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.server)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> RecordStore:
    """An empty RecordStore on a SQLite file, or on a fresh database of a real PostgreSQL."""
    if request.param == "sqlite":
        url = default_database_url(tmp_path / "data")
    else:
        url = request.getfixturevalue("postgres_url")
    return RecordStore(open_engine(url), secret=SECRET).create()


def test_answers_round_trip_with_history_and_filters(store: RecordStore) -> None:
    history = (Turn("user", "Who invested?"), Turn("assistant", "Volkswagen [¶3]."))
    kept = _record("And how much?", history=history)
    declined = _record("Who won the 2022 World Cup?", abstained=True, channel="chat")
    other_case = _record(case="case-b")
    store.add_answers([kept, declined, other_case])

    rows = store.answers("case-a")
    assert [r.record.id for r in rows] == [kept.id, declined.id]
    first = rows[0].record
    assert first.history == history and first.cited_paragraphs == (12,)
    assert first.asked_at.tzinfo is not None
    assert abs((first.asked_at - kept.asked_at).total_seconds()) < 1
    assert [r.record.id for r in store.answers("case-a", abstained=True)] == [declined.id]
    assert store.count() == 3 and store.count("case-b") == 1
    assert store.cases() == [("case-a", 2), ("case-b", 1)]


def test_feedback_replaces_an_earlier_rating_and_rejects_unknown_ids(store: RecordStore) -> None:
    record = _record()
    store.add_answer(record)
    store.add_feedback(record.id, "up")
    store.add_feedback(record.id, "down", "  It missed the 5% stake.  ")
    (row,) = store.answers("case-a")
    assert (row.rating, row.comment) == ("down", "It missed the 5% stake.")
    assert [r.record.id for r in store.answers("case-a", rating="down")] == [record.id]
    assert store.answers("case-a", rating="up") == []
    with pytest.raises(UnknownAnswerError):
        store.add_feedback("no-such-answer", "up")
    with pytest.raises(FeedbackError):
        store.add_feedback(record.id, "meh")
    with pytest.raises(FeedbackError):
        store.add_feedback(record.id, "down", "x" * 5000)


def test_purge_removes_old_answers_and_their_feedback(store: RecordStore) -> None:
    old, recent = _record(days_ago=200), _record(days_ago=10)
    store.add_answers([old, recent])
    store.add_feedback(old.id, "down", "old")
    assert store.purge(180) == 1
    assert [r.record.id for r in store.answers()] == [recent.id]
    assert store.purge(180) == 0
    assert store.purge(0) == 1
    assert store.count() == 0


def test_recorder_gives_answers_an_id_and_writes_in_the_background(tmp_path: Path) -> None:
    settings = Settings.from_env({}, data_dir=tmp_path / "data")
    recorder = open_recorder(settings)
    try:
        answer = recorder.record(_answer(), " How much? ", (Turn("user", "Hi"),), "chat", "sess")
        assert answer.answer_id and answer.to_dict()["answer_id"] == answer.answer_id
        recorder.feedback(answer.answer_id, "down", "too short")  # waits for the queued write
        assert recorder.writer is not None and recorder.writer.flush()
        assert recorder.store is not None
        (row,) = recorder.store.answers()
        assert row.record.question == "How much?" and row.record.channel == "chat"
        assert row.record.latency_ms == 12.3 and row.rating == "down"
        with pytest.raises(ValueError, match="channel"):
            recorder.record(_answer(), "q", (), "email")
    finally:
        recorder.close()
    assert (tmp_path / "data" / "records.sqlite3").exists()


def test_a_chat_rating_names_a_finished_answer_of_the_conversation(tmp_path: Path) -> None:
    recorder = open_recorder(Settings.from_env({}, data_dir=tmp_path / "data"))
    try:
        answer = recorder.record(_answer(), "How much?", (), "chat", "sess")
        log = [{"role": "user", "content": "How much?"},
               {"role": "assistant", "content": answer.answer, "answer_id": answer.answer_id}]
        assert rate_answer(recorder, log, 1, False) == answer.answer_id
        assert rate_answer(recorder, log, [1], True) == answer.answer_id  # multimodal index
        # The question itself, a flag that is not a rating, and an answer still being written
        # (the chat shows it at index 3 before the log holds it) keep nothing.
        assert rate_answer(recorder, log, 0, False) is None
        assert rate_answer(recorder, log, 1, "maybe") is None
        assert rate_answer(recorder, log, 3, False) is None
        assert unfinished(log, 3) and unfinished([], 1)
        assert not unfinished(log, 1) and not unfinished(log, True)
        assert recorder.store is not None and recorder.writer is not None
        assert recorder.writer.flush()
        (row,) = recorder.store.answers()
        assert row.rating == "up"
    finally:
        recorder.close()


def test_records_off_keeps_nothing(tmp_path: Path) -> None:
    recorder = open_recorder(Settings.from_env({"CASEBOT_LOG_QUESTIONS": "off"},
                                               data_dir=tmp_path / "data"))
    answer = recorder.record(_answer(), "q", (), "api")
    assert answer.answer_id == "" and "answer_id" not in answer.to_dict()
    with pytest.raises(UnknownAnswerError):
        recorder.feedback("anything", "up")
    assert not (tmp_path / "data" / "records.sqlite3").exists()


def test_a_database_that_is_down_never_delays_the_answer(caplog: pytest.LogCaptureFixture,
                                                        tmp_path: Path) -> None:
    from conftest import free_port

    # Nothing listens on this port: every attempt fails fast.
    url = f"postgresql+psycopg://casebot@127.0.0.1:{free_port()}/casebot"
    settings = Settings.from_env({"CASEBOT_DATABASE_URL": url}, data_dir=tmp_path / "data")
    with caplog.at_level(logging.ERROR, logger="casebot.records"):
        recorder = open_recorder(settings)
        started = time.perf_counter()
        answer = recorder.record(_answer(), "q", (), "api")
        elapsed = time.perf_counter() - started
        assert recorder.writer is not None
        # Returns once the writer's first attempt has ended in "down" (it logs that first).
        recorder.writer.wait_for(answer.answer_id, timeout=30)
        assert recorder.database_status() == "down"
        assert not recorder.writer.flush(timeout=0.2)  # held
        recorder.close()
    assert answer.answer and answer.answer_id
    assert elapsed < 0.5  # the write happens on the background thread
    assert "records database down" in caplog.text and "password" not in caplog.text
    assert "1 records not written" in caplog.text


def test_records_wait_in_memory_within_a_bound_while_the_database_is_down(
        caplog: pytest.LogCaptureFixture) -> None:
    from conftest import free_port

    from bot.records.writer import PendingRecord, RecordWriter

    store = RecordStore(open_engine(f"postgresql+psycopg://casebot@127.0.0.1:{free_port()}/x"),
                        secret=SECRET)
    writer = RecordWriter(store, max_held=3)
    with caplog.at_level(logging.ERROR, logger="casebot.records"):
        try:
            for record in [_record(f"q{i}") for i in range(5)]:
                writer.submit(PendingRecord(record))
            assert not writer.flush(timeout=0.2)  # held, not written and not given up on
        finally:
            writer.close(timeout=5)
    assert writer.status == "down"
    assert writer.failures == writer.dropped == 2  # the two oldest went when the fourth and fifth came
    assert "3 records held: dropped the oldest (1 dropped so far)" in caplog.text
    assert "3 records not written" in caplog.text


def test_export_rows_are_a_question_set_that_loads_as_unlabelled(tmp_path: Path) -> None:
    from bot.evaluation.questions import load_questions

    store = RecordStore(open_engine(default_database_url(tmp_path))).create()
    follow_up = _record("And when?", history=(Turn("user", "How much?"), Turn("assistant", "$700m")))
    declined = _record("Who is the best footballer?", abstained=True, channel="embed")
    store.add_answers([follow_up, declined])
    store.add_feedback(declined.id, "down", 'Say "why", please, with a comma')
    rows = store.answers()
    data = export_row(rows[1])
    assert {"id", "question", "history", "asked_at", "answer", "abstained", "cited_paragraphs",
            "rating", "comment", "channel"} <= set(data)
    assert data["rating"] == "down" and data["answerable"] is None and data["channel"] == "embed"

    jsonl = tmp_path / "export.jsonl"
    jsonl.write_text("".join(jsonl_lines(rows)), encoding="utf-8")
    csv_file = tmp_path / "export.csv"
    csv_file.write_text("".join(csv_lines(rows)), encoding="utf-8")
    for path in (jsonl, csv_file):
        questions = load_questions(path)
        assert [q.id for q in questions] == [follow_up.id, declined.id]
        assert all(q.answerable is None and q.category == "student" for q in questions)
        assert questions[0].history == follow_up.history

    # Once the instructor fills in a label, the row is scored like any other.
    labelled = [json.loads(line) for line in jsonl.read_text().splitlines()]
    labelled[1]["answerable"] = False
    labelled[0]["must_include"] = ["July"]
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in labelled), encoding="utf-8")
    assert [q.answerable for q in load_questions(jsonl)] == [True, False]


def test_an_export_shows_where_each_cited_passage_was_with_its_page(tmp_path: Path) -> None:
    from bot.evaluation.questions import load_questions

    recorder = Recorder(RecordStore(open_engine(default_database_url(tmp_path))).create())
    try:
        exhibit = Citation(id="case-a:41", label="Exhibit 1", paragraph=41, section="", text="2020: ...",
                           score=0.7, kind="exhibit", page=[5, 6])
        cited = replace(_answer(), citations=(replace(_answer().citations[0], page=3), exhibit),
                        answer="$700 million [¶12]. Revenue [¶41].")
        recorded = recorder.record(cited, "How much?", (), "api")
        plain = recorder.record(_answer(), "How much again?", (), "api")
        assert recorder.writer is not None and recorder.writer.flush()
        assert recorder.store is not None
        rows = {r.record.id: r for r in recorder.store.answers()}
        assert export_row(rows[recorded.answer_id])["cited"] == ["¶12 · p. 3", "Exhibit 1 · pp. 5–6"]
        # A case without pages shows the label alone, as the chat does.
        assert export_row(rows[plain.answer_id])["cited"] == ["¶12"]
        csv_file = tmp_path / "export.csv"
        csv_file.write_text("".join(csv_lines(rows.values())), encoding="utf-8")
        assert "¶12 · p. 3" in csv_file.read_text(encoding="utf-8")
        assert len(load_questions(csv_file)) == 2
    finally:
        recorder.close()


def test_unlabelled_questions_count_in_answer_metrics_not_in_pass_rate() -> None:
    from bot.evaluation.metrics import Outcome, score_question, summarize
    from bot.evaluation.questions import Question

    labelled = Question("q1", "How much?", must_include=("$700 million",))
    unlabelled = Question("s1", "Who?", answerable=None, category="student")
    scores = [
        score_question(labelled, Outcome(answer="$700 million [¶12].", abstained=False, cited=(12,),
                                         retrieved=(12,), latency_ms=10.0)),
        score_question(unlabelled, Outcome(answer="Volkswagen [¶3].", abstained=False, cited=(3,),
                                           retrieved=(3,), latency_ms=30.0)),
    ]
    summary = summarize(scores)
    assert summary["unlabelled"] == 1 and summary["answerable"] == 1
    assert summary["counts"]["pass_rate"] == 1 and summary["metrics"]["pass_rate"] == 1.0
    assert summary["counts"]["latency_p50_ms"] == 2
    assert summary["by_category"]["student"]["unlabelled"] == 1
    assert scores[1].reasons == ()


def test_settings_for_records_from_env_and_hidden_secrets() -> None:
    env = {"CASEBOT_DATABASE_URL": "postgresql+psycopg://u:secret@db/x", "CASEBOT_LOG_QUESTIONS": "off",
           "CASEBOT_LOG_RETENTION_DAYS": "30", "CASEBOT_INSTRUCTOR_TOKEN": "tok-123-long-enough"}
    settings = Settings.from_env(env)
    assert (settings.log_questions, settings.log_retention_days) == (False, 30.0)
    assert settings.instructor_token == "tok-123-long-enough"
    assert "tok-123" not in repr(settings) and "secret" not in repr(settings)
    assert Settings.from_env({}).log_questions is True
    assert Settings.from_env({}).log_retention_days == 180.0
    with pytest.raises(ValueError, match="on or off"):
        Settings.from_env({"CASEBOT_LOG_QUESTIONS": "maybe"})
    with pytest.raises(ValueError, match="positive"):
        Settings.from_env({"CASEBOT_LOG_RETENTION_DAYS": "-1"})


def test_a_recorder_without_store_is_off() -> None:
    recorder = Recorder(None)
    assert not recorder.enabled and recorder.purge_expired() == 0
    recorder.close()


def test_serve_refuses_an_unusable_database_url_before_loading_anything(tmp_path: Path) -> None:
    done = run_main(tmp_path, "serve", "--database-url", "nosuchdb://x/y")
    assert done.returncode == 2 and "not a usable database URL" in done.stderr
    done = run_main(tmp_path, "serve", "--log-retention-days", "0")
    assert done.returncode == 2 and "positive" in done.stderr


def test_questions_command_help_and_empty_export(tmp_path: Path) -> None:
    out = tmp_path / "empty.jsonl"
    done = run_main(tmp_path / "data", "questions", "export", "--output", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "" and "exported 0 questions" in done.stderr
    assert (tmp_path / "data" / "records.sqlite3").exists()


def test_lti_user_ids_are_kept_only_as_a_keyed_hash_shared_by_replicas(store: RecordStore) -> None:
    first, second = Recorder(store), Recorder(RecordStore(store.engine, secret=SECRET))
    try:
        a = first.record(_answer(), "q", (), "lti", user_id="platform-user-42")
        b = second.record(_answer(), "q", (), "lti", user_id="platform-user-42")
        assert first.writer is not None and first.writer.flush()
        assert second.writer is not None and second.writer.flush()
    finally:
        first.close()
        second.close()
    hashes = {r.record.id: r.record.user_hash for r in store.answers()}
    assert hashes[a.answer_id] == hashes[b.answer_id]  # same key on both replicas
    assert hashes[a.answer_id] and "platform-user-42" not in hashes[a.answer_id]
    assert len(hashes[a.answer_id] or "") == 64
    # A new database keeps no key: it is derived from the secret.
    with store.engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT COUNT(*) FROM casebot_secrets")).scalar() == 0
    other = RecordStore(store.engine, secret="f" * 64)
    assert other.user_hash("platform-user-42") != hashes[a.answer_id]


def test_a_pseudonym_key_kept_by_an_earlier_casebot_keeps_linking_its_students(
        store: RecordStore) -> None:
    old_key = "9" * 64
    with store.engine.begin() as connection:
        connection.execute(sqlalchemy.text(
            "INSERT INTO casebot_secrets (name, value) VALUES ('user-hash-key', :key)"), {"key": old_key})
    fresh = RecordStore(store.engine, secret=SECRET)  # a restarted server: nothing cached
    assert fresh.user_hash("student-7") == keyed_user_hash(old_key, "student-7")
    with store.engine.begin() as connection:  # read once: a later change is not seen
        connection.execute(sqlalchemy.text("DELETE FROM casebot_secrets"))
    assert fresh.user_hash("student-7") == keyed_user_hash(old_key, "student-7")


def test_purge_user_deletes_one_students_answers_and_feedback(store: RecordStore) -> None:
    mine = replace(_record("Mine?"), user_hash=store.user_hash("student-1"), session_id="s-a")
    also_mine = replace(_record("Mine too?"), session_id="s-b")
    theirs = replace(_record("Theirs?"), user_hash=store.user_hash("student-2"), session_id="s-c")
    store.add_answers([mine, also_mine, theirs])
    store.add_feedback(mine.id, "down", "meh")
    assert store.purge_user("student-1") == 1
    assert store.purge_user("s-b") == 1  # a session id
    assert store.purge_user("nobody") == 0
    assert [r.record.id for r in store.answers()] == [theirs.id]
    with store.engine.connect() as connection:
        assert connection.execute(sqlalchemy.text("SELECT COUNT(*) FROM casebot_feedback")).scalar() == 0


def test_a_scope_reads_only_its_case_platform_and_course(store: RecordStore) -> None:
    from bot.records.insight import case_insight

    ours = replace(_record("Ours?"), platform="https://lms.a", course="c1")
    other_course = replace(_record("Other course?"), platform="https://lms.a", course="c2")
    other_platform = replace(_record("Other platform?"), platform="https://lms.b", course="c1")
    no_course = _record("Direct chat?")
    other_case = replace(_record("Other case?", case="case-b"), platform="https://lms.a", course="c1")
    store.add_answers([ours, other_course, other_platform, no_course, other_case])
    scope = RecordScope("case-a", "https://lms.a", "c1")
    assert [r.record.id for r in store.answers(scope=scope)] == [ours.id]
    assert store.count(scope=scope) == 1 and store.count("case-a") == 4
    assert store.cases(scope=scope) == [("case-a", 1)]
    insight = case_insight(store, "case-a", None, scope=scope)
    assert insight.total == 1 and [g.label for g in insight.groups] == ["Ours?"]


def test_revoked_sessions_are_remembered_until_they_expire(store: RecordStore) -> None:
    now = datetime.now(UTC)
    store.revoke_session("gone", now + timedelta(hours=1))
    store.revoke_session("gone", now + timedelta(hours=1))  # twice: no error
    store.revoke_session("expired", now - timedelta(seconds=1))
    assert store.is_revoked("gone") and store.is_revoked("expired") and not store.is_revoked("live")
    assert store.purge_revocations() == 1
    assert store.is_revoked("gone") and not store.is_revoked("expired")


def test_a_record_keeps_the_text_it_cited_and_whether_it_was_a_hint(store: RecordStore) -> None:
    recorder = Recorder(store)
    try:
        answer = recorder.record(replace(_answer(), guided=True), "q", (), "lti", platform="https://lms",
                                 course="c1")
        assert recorder.writer is not None and recorder.writer.flush()
    finally:
        recorder.close()
    (row,) = store.answers()
    assert row.record.id == answer.answer_id and row.record.guided
    assert (row.record.platform, row.record.course) == ("https://lms", "c1")
    assert [(c.paragraph, c.label, c.text) for c in row.record.citations] == [(12, "¶12", "...")]
    assert answer.to_dict()["guided"] is True and "guided" not in _answer().to_dict()


def test_one_bad_row_never_costs_the_good_ones(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    # A client sending lone surrogates among other students' questions once made whole batches
    # of good records disappear (one failed batch was dropped whole).
    store = RecordStore(open_engine(default_database_url(tmp_path)), secret=SECRET).create()
    recorder = Recorder(store)
    bad = "\ud800"
    asked: list[str] = []
    try:
        for i in range(60):
            if i % 3 == 0:
                answer = recorder.record(_answer(), f"bad {bad} {i}", (Turn("user", f"x{bad}"),), "api")
                recorder.feedback(answer.answer_id, "down", f"comment {bad}")
            else:
                answer = recorder.record(_answer(), f"good {i}", (), "api")
            asked.append(answer.answer_id)
        assert recorder.writer is not None and recorder.writer.flush()
    finally:
        recorder.close()
    rows = {r.record.id: r for r in store.answers()}
    assert set(rows) == set(asked)  # every record kept, the odd text replaced
    cleaned = next(r for r in rows.values() if r.record.question.startswith("bad"))
    assert "\ufffd" in cleaned.record.question and cleaned.record.history[0].content == "x\ufffd"
    assert cleaned.comment == "comment \ufffd"

    # A row the database refuses (here: an id already kept) costs only itself.
    from bot.records.writer import PendingRecord, RecordWriter

    duplicate = next(iter(rows.values())).record
    good = [_record(f"fine {i}") for i in range(4)]
    writer = RecordWriter(store)
    with caplog.at_level(logging.ERROR, logger="casebot.records"):
        for pending in (good[0], good[1], duplicate, good[2], good[3]):
            writer.submit(PendingRecord(pending))
        assert writer.flush()
        writer.close()
    kept = {r.record.id for r in store.answers()}
    assert {g.id for g in good} <= kept and writer.failures == 1
    assert "could not record 1 of" in caplog.text and duplicate.id in caplog.text


def test_retention_purges_at_start_and_then_periodically(tmp_path: Path) -> None:
    store = RecordStore(open_engine(default_database_url(tmp_path)), secret=SECRET).create()
    store.add_answers([_record(days_ago=40), _record(days_ago=1)])
    recorder = Recorder(store, retention_days=30)
    try:
        recorder.start_retention(interval_s=0.05)
        deadline = time.monotonic() + 10
        while store.count() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.count() == 1
        # A record that ages past the retention later goes at the next periodic purge.
        store.add_answer(_record(days_ago=31))
        while store.count() != 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.count() == 1
    finally:
        recorder.close()


@pytest.mark.parametrize("days", ["nan", "inf", "1e10", "-1"])
def test_purge_refuses_an_age_records_cannot_have_in_one_line(
        days: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    assert main(["questions", "purge", "--older-than", days, "--data-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--older-than must be a number of days from 0 to 36,500" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_purge_one_user_through_the_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main

    data = tmp_path / "data"
    recorder = open_recorder(Settings.from_env({}, data_dir=data))
    try:
        mine = recorder.record(_answer(), "Mine?", (), "lti", "s-1", user_id="lti-student-1")
        recorder.record(_answer(), "Mine too?", (), "lti", "s-2", user_id="lti-student-1")
        theirs = recorder.record(_answer(), "Theirs?", (), "chat", "s-3")
        assert recorder.writer is not None and recorder.writer.flush()
        recorder.feedback(mine.answer_id, "down", "no")
    finally:
        recorder.close()
    assert main(["questions", "purge", "--user", "lti-student-1", "--data-dir", str(data)]) == 0
    assert "purged 2 records of that user" in capsys.readouterr().err
    assert main(["questions", "purge", "--user", "s-3", "--data-dir", str(data)]) == 0
    assert "purged 1 record of that user" in capsys.readouterr().err
    store = RecordStore(open_engine(default_database_url(data)))
    assert store.count() == 0 and not store.has_answer(theirs.answer_id)


def test_purge_an_lti_student_by_their_platform_id(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    from bot.cli import main
    from bot.lti.routes import build_tool
    from bot.secret import load_secret

    data = tmp_path / "data"
    settings = Settings.from_env({}, data_dir=data)
    issuer = "https://lms.example.edu"
    # What the chat records for a launched student: casebot's pseudonym, never the platform's id.
    pseudonym = build_tool(settings, load_secret(settings.secret, data)).pseudonym(issuer, "sub-42")
    recorder = open_recorder(settings)
    try:
        recorder.record(_answer(), "Mine?", (), "lti", "s-1", user_id=pseudonym)
        theirs = recorder.record(_answer(), "Theirs?", (), "lti", "s-2", user_id="someone-else")
        assert recorder.writer is not None and recorder.writer.flush()
    finally:
        recorder.close()
    assert main(["questions", "purge", "--user", "sub-42", "--data-dir", str(data)]) == 0
    assert "purged 0 records" in capsys.readouterr().err, "the platform id alone is not what is kept"
    assert main(["questions", "purge", "--user", "sub-42", "--issuer", issuer, "--data-dir", str(data)]) == 0
    assert "purged 1 record of that user" in capsys.readouterr().err
    store = RecordStore(open_engine(default_database_url(data)))
    assert store.count() == 1 and store.has_answer(theirs.answer_id)


def test_the_records_file_is_private_and_so_is_the_data_folder(tmp_path: Path) -> None:
    import stat

    from bot.cli import main

    data = tmp_path / "data"
    assert main(["questions", "export", "--output", str(tmp_path / "x.jsonl"), "--data-dir", str(data)]) == 0
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for name in ("records.sqlite3", "secret"):
        assert stat.S_IMODE((data / name).stat().st_mode) == 0o600, name


@pytest.mark.model
def test_ingest_creates_a_private_data_folder(tmp_path: Path) -> None:
    import stat

    case = tmp_path / "cases" / "tiny" / "case.txt"
    case.parent.mkdir(parents=True)
    case.write_text("Tiny Case\n\nVolkswagen invested $700 million in XPeng in July 2023.\n")
    data = tmp_path / "new" / "data"
    done = run_main(data, "ingest", "--quiet", str(case.parent))
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
