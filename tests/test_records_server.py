"""Records through real `casebot serve` processes: answer ids, feedback, the instructor export, the
CLI export and purge, records off, a round trip through `casebot eval`, and two replicas writing
to one real PostgreSQL (records surviving a restart)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CASE_ID, replicas, run_main, running_server

pytestmark = [pytest.mark.server, pytest.mark.model]

TOKEN = "instructor-token-for-tests"
QUESTIONS = ("How much did Volkswagen invest in XPeng?", "Who won the 2022 football World Cup?")


def _ask(base: str, question: str, history: list[dict[str, str]] | None = None) -> dict:
    response = httpx.post(f"{base}/api/v1/ask", json={"question": question, "case": CASE_ID,
                                                        "history": history or []}, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


def _export(base: str, **params: str) -> httpx.Response:
    return httpx.get(f"{base}/api/v1/instructor/questions", params={"case": CASE_ID, **params},
                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)


@pytest.fixture(scope="module")
def records_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('records') / 'records.sqlite3'}"


@pytest.fixture(scope="module")
def server(ingested_data_dir: Path, records_url: str, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[str]:
    """A server with records on (its own SQLite file) and the instructor token set."""
    with running_server(ingested_data_dir, "--rate-limit", "off", "--database-url", records_url,
                        env={"CASEBOT_INSTRUCTOR_TOKEN": TOKEN},
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def test_answers_carry_an_id_and_take_feedback(server: str) -> None:
    answered = _ask(server, QUESTIONS[0])
    assert httpx.get(f"{server}/healthz", timeout=30).json()["database"] == "up"
    assert len(answered["answer_id"]) == 32 and not answered["abstained"]
    feedback = f"{server}/api/v1/feedback"
    ok = httpx.post(feedback, json={"answer_id": answered["answer_id"], "rating": "down",
                                    "comment": "Say what share VW got."}, timeout=30)
    assert ok.status_code == 200 and ok.json() == {"status": "ok"}
    unknown = httpx.post(feedback, json={"answer_id": "0" * 32, "rating": "up"}, timeout=30)
    assert unknown.status_code == 404 and "error" in unknown.json()
    bad = httpx.post(feedback, json={"answer_id": answered["answer_id"], "rating": "meh"}, timeout=30)
    assert bad.status_code == 422 and "rating" in bad.json()["error"]
    missing = httpx.post(feedback, json={"rating": "up"}, timeout=30)
    assert missing.status_code == 422


def test_streamed_answers_carry_an_id_too(server: str) -> None:
    with httpx.stream("POST", f"{server}/api/v1/ask/stream", json={"question": QUESTIONS[0]},
                      timeout=60) as response:
        body = "".join(response.iter_text())
    final = json.loads(body.split("event: answer\ndata: ", 1)[1].split("\n", 1)[0])
    assert len(final["answer_id"]) == 32


def test_instructor_export_needs_the_token_and_filters(server: str) -> None:
    rated = _ask(server, QUESTIONS[0])
    declined = _ask(server, QUESTIONS[1])
    assert declined["abstained"]
    httpx.post(f"{server}/api/v1/feedback", json={"answer_id": rated["answer_id"], "rating": "down",
                                                  "comment": "too vague"}, timeout=30)
    anonymous = httpx.get(f"{server}/api/v1/instructor/questions", params={"case": CASE_ID}, timeout=30)
    assert anonymous.status_code == 401 and "error" in anonymous.json()
    wrong = httpx.get(f"{server}/api/v1/instructor/questions", timeout=30,
                      headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401

    everything = _export(server)
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in everything.text.splitlines()]
    ids = {row["id"] for row in rows}
    assert {rated["answer_id"], declined["answer_id"]} <= ids
    row = next(r for r in rows if r["id"] == rated["answer_id"])
    assert row["question"] == QUESTIONS[0] and row["rating"] == "down" and row["comment"] == "too vague"
    assert row["channel"] == "api" and row["cited_paragraphs"] and row["history"] == []

    only_declined = [json.loads(x) for x in _export(server, abstained="true").text.splitlines()]
    assert declined["answer_id"] in {r["id"] for r in only_declined}
    assert all(r["abstained"] for r in only_declined)
    only_down = [json.loads(x) for x in _export(server, rating="down").text.splitlines()]
    assert only_down and all(r["rating"] == "down" for r in only_down)
    as_csv = _export(server, format="csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    assert as_csv.text.splitlines()[0].startswith("id,question,history")
    assert _export(server, format="xml").status_code == 422


def test_round_trip_export_then_eval_runs_the_file_as_is(server: str, ingested_index: Path,
                                                         records_url: str, tmp_path: Path) -> None:
    first = _ask(server, QUESTIONS[0])
    _ask(server, "And when was that announced?",
         [{"role": "user", "content": QUESTIONS[0]}, {"role": "assistant", "content": first["answer"]}])
    # The commands run in this process (`run_main`), on the records the server wrote.
    env = {"CASEBOT_DATABASE_URL": records_url}
    exported = tmp_path / "student.jsonl"
    done = run_main(ingested_index, "questions", "export", "--case", CASE_ID, "--output", str(exported),
                    env=env)
    assert done.returncode == 0, done.stderr
    assert "exported" in done.stderr
    rows = [json.loads(line) for line in exported.read_text().splitlines()]
    assert any(r["history"] for r in rows)

    run = run_main(ingested_index, "eval", str(exported), "--case", CASE_ID, "--output",
                   str(tmp_path / "run"), env=env)
    assert run.returncode == 0, run.stderr + run.stdout
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["questions"] == len(rows) and summary["unlabelled"] == len(rows)
    assert summary["counts"]["latency_p50_ms"] == len(rows)
    assert "unlabelled" in run.stdout + run.stderr
    assert (tmp_path / "run" / "report.html").exists()


def test_cli_export_filters_and_purge(server: str, ingested_index: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    from datetime import UTC, datetime, timedelta

    from bot.records import AnswerRecord, RecordStore
    from bot.records.database import open_engine
    from bot.records.repository import new_answer_id

    store = RecordStore(open_engine(url)).create()
    old = AnswerRecord(new_answer_id(), datetime.now(UTC) - timedelta(days=400), CASE_ID, "old?", (),
                       "a", True, (), "extractive", 1.0, "chat", "s")
    new = AnswerRecord(new_answer_id(), datetime.now(UTC), CASE_ID, "new?", (), "b [¶1].", False, (1,),
                       "extractive", 1.0, "embed", "s")
    store.add_answers([old, new])
    out = tmp_path / "declined.csv"
    done = run_main(ingested_index, "questions", "export", "--database-url", url, "--case", CASE_ID,
                    "--abstained", "--output", str(out))
    assert done.returncode == 0, done.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 2 and old.id in lines[1]
    bad = run_main(ingested_index, "questions", "export", "--database-url", url, "--output",
                   str(tmp_path / "x.txt"))
    assert bad.returncode == 2 and ".jsonl or .csv" in bad.stderr
    purge = run_main(ingested_index, "questions", "purge", "--older-than", "180", "--database-url", url)
    assert purge.returncode == 0 and "purged 1 record" in purge.stderr
    assert [r.record.id for r in store.answers()] == [new.id]


def test_records_off_and_no_instructor_token(ingested_data_dir: Path, tmp_path: Path) -> None:
    with running_server(ingested_data_dir, "--rate-limit", "off", "--log-questions", "off",
                        env={"CASEBOT_DATABASE_URL": f"sqlite:///{tmp_path / 'never.sqlite3'}"},
                        log_dir=tmp_path) as base:
        answered = _ask(base, QUESTIONS[0])
        assert "answer_id" not in answered
        assert httpx.get(f"{base}/healthz", timeout=30).json()["database"] == "off"
        feedback = httpx.post(f"{base}/api/v1/feedback", json={"answer_id": "a" * 32, "rating": "up"},
                              timeout=30)
        assert feedback.status_code == 404
        assert httpx.get(f"{base}/instructor", timeout=30).status_code == 404
        assert httpx.post(f"{base}/instructor/login", data={"token": ""}, timeout=30).status_code == 404
        exported = httpx.get(f"{base}/api/v1/instructor/questions", timeout=30,
                             headers={"Authorization": "Bearer anything"})
        assert exported.status_code == 404
    # The database holds the LTI tool's schema (made at start, records tables included), but no
    # question was kept.
    with sqlite3.connect(tmp_path / "never.sqlite3") as connection:
        kept = [connection.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
                for table in ("casebot_answers", "casebot_feedback")]
    assert kept == [0, 0]


# Three server starts (each loads the embedding model) on a 2-core machine.
@pytest.mark.timeout(1500)
def test_two_replicas_share_one_postgresql_and_survive_a_restart(
        ingested_data_dir: Path, postgres_url: str, tmp_path: Path) -> None:
    args = ("--rate-limit", "off", "--database-url", postgres_url)
    env = {"CASEBOT_INSTRUCTOR_TOKEN": TOKEN}
    with replicas(2, ingested_data_dir, *args, env=env, log_dir=tmp_path) as (first, second):
        on_first = [_ask(first, q)["answer_id"] for q in QUESTIONS]
        on_second = [_ask(second, q)["answer_id"] for q in QUESTIONS]
        # A rating reaches whichever replica the load balancer picks.
        rated = httpx.post(f"{first}/api/v1/feedback", timeout=30,
                           json={"answer_id": on_second[0], "rating": "down", "comment": "from A"})
        assert rated.status_code == 200, rated.text
        seen_by_first = {json.loads(x)["id"] for x in _export(first).text.splitlines()}
        seen_by_second = {json.loads(x)["id"] for x in _export(second).text.splitlines()}
        assert set(on_first + on_second) == seen_by_first == seen_by_second
    with replicas(1, ingested_data_dir, *args, env=env, log_dir=tmp_path) as (restarted,):
        rows = [json.loads(x) for x in _export(restarted).text.splitlines()]
        assert {r["id"] for r in rows} == set(on_first + on_second)
        assert next(r for r in rows if r["id"] == on_second[0])["comment"] == "from A"
