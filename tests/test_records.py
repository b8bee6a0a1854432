"""The records database on SQLite and on a real PostgreSQL: answers, feedback, export, purge,
schema versions, the background writer, and the settings and session cookie around them."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

from bot.answer import Answer, Citation, Turn
from bot.errors import DatabaseError, FeedbackError, UnknownAnswerError
from bot.records.database import (
    SchemaVersion,
    default_database_url,
    ensure_schema,
    open_engine,
    schema_version,
)
from bot.records.export import csv_lines, export_row, jsonl_lines
from bot.records.store import (
    AnswerRecord,
    Recorder,
    RecordStore,
    new_answer_id,
    open_recorder,
)
from bot.settings import Settings
from bot.web.feedback import rate_answer, unfinished


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
    return RecordStore(open_engine(url)).create()


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


def test_schema_is_versioned_and_a_newer_database_is_refused(store: RecordStore) -> None:
    assert schema_version(store.engine) == 1
    ensure_schema(store.engine)  # idempotent: a restart or a second replica changes nothing
    from sqlalchemy.orm import Session

    with Session(store.engine) as session, session.begin():
        row = session.get(SchemaVersion, "records")
        assert row is not None
        row.version = 99
    with pytest.raises(DatabaseError, match="newer"):
        ensure_schema(store.engine)


@pytest.mark.server
def test_replicas_starting_together_on_one_postgresql_all_create_the_schema(postgres_url: str) -> None:
    # Unlocked, concurrent CREATE TABLEs on PostgreSQL fail on its catalogue ("duplicate key ...
    # pg_type_typname_nsp_index"): it failed in 10 rounds of 10 with six starters. Each starter has its
    # own engine, as each replica has, and all start at one barrier.
    from bot.records.lti import LtiBase, create_tables

    starters = 6
    barrier = threading.Barrier(starters)
    failures: list[Exception] = []

    def start_replica() -> None:
        engine = open_engine(postgres_url)
        try:
            barrier.wait(timeout=60)
            create_tables(engine)
            ensure_schema(engine)
        except Exception as error:  # collected, and asserted on below
            failures.append(error)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=start_replica) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [thread for thread in threads if thread.is_alive()], "a starter is still waiting"
    assert failures == []
    engine = open_engine(postgres_url)
    try:
        assert schema_version(engine) == 1
        assert set(LtiBase.metadata.tables) <= set(sqlalchemy.inspect(engine).get_table_names())
    finally:
        engine.dispose()


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


def test_a_database_that_is_down_never_loses_the_answer(caplog: pytest.LogCaptureFixture) -> None:
    from conftest import free_port

    # Nothing listens on this port: every write fails fast.
    url = f"postgresql+psycopg://casebot@127.0.0.1:{free_port()}/casebot"
    settings = Settings.from_env({"CASEBOT_DATABASE_URL": url})
    with caplog.at_level(logging.ERROR, logger="casebot.records"):
        recorder = open_recorder(settings)
        started = time.perf_counter()
        answer = recorder.record(_answer(), "q", (), "api")
        elapsed = time.perf_counter() - started
        assert recorder.writer is not None
        assert recorder.writer.flush(timeout=30)
        recorder.close()
    assert answer.answer and answer.answer_id
    assert elapsed < 0.5  # the write happens on the background thread
    assert recorder.writer.failures == 1
    assert "could not record 1 answer" in caplog.text and "password" not in caplog.text


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


@pytest.mark.subprocess
def test_serve_refuses_an_unusable_database_url_before_loading_anything(tmp_path: Path) -> None:
    import subprocess

    from conftest import CASEBOT, cli_env

    done = subprocess.run([CASEBOT, "serve", "--database-url", "nosuchdb://x/y"], capture_output=True,
                          text=True, timeout=60, env=cli_env(tmp_path))
    assert done.returncode == 2 and "not a usable database URL" in done.stderr
    done = subprocess.run([CASEBOT, "serve", "--log-retention-days", "0"], capture_output=True,
                          text=True, timeout=60, env=cli_env(tmp_path))
    assert done.returncode == 2 and "positive" in done.stderr


@pytest.mark.subprocess
def test_questions_command_help_and_empty_export(tmp_path: Path) -> None:
    import subprocess

    from conftest import CASEBOT, cli_env

    out = tmp_path / "empty.jsonl"
    done = subprocess.run([CASEBOT, "questions", "export", "--output", str(out)], capture_output=True,
                          text=True, timeout=60, env=cli_env(tmp_path / "data"))
    assert done.returncode == 0, done.stderr
    assert out.read_text() == "" and "exported 0 questions" in done.stderr
    assert (tmp_path / "data" / "records.sqlite3").exists()


def test_lti_user_ids_are_kept_only_as_a_keyed_hash_shared_by_replicas(store: RecordStore) -> None:
    first, second = Recorder(store), Recorder(RecordStore(store.engine))
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


def test_retention_purges_at_start_and_then_periodically(tmp_path: Path) -> None:
    store = RecordStore(open_engine(default_database_url(tmp_path))).create()
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
