"""A records database that is down: `casebot serve` starts anyway and answers, /healthz says so,
the records made meanwhile are written once the database is up, and /lti/jwks answers 503 without
leaving a key file behind (also when the database is read-only), and a database host that never
answers is given up on in seconds."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from conftest import CASE_ID, free_port, private_copy, running_server

TOKEN = "instructor-token-for-tests"


@pytest.mark.server
@pytest.mark.model
@pytest.mark.timeout(900)
def test_the_server_answers_while_the_database_is_down_and_writes_the_records_once_it_is_up(
        ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> None:
    from postgres import postgres_bin, postgres_server

    if postgres_bin() is None:
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    data = private_copy(ingested_data_dir, tmp_path_factory, "database-down")
    # The shared index may hold a key another test's server made: only a new file is a leak.
    keys_before = set((data / "lti").glob("*.pem"))
    port = free_port()  # nothing listens here until the database starts below
    url = f"postgresql+psycopg://casebot@127.0.0.1:{port}/postgres"
    with running_server(data, "--rate-limit", "off", "--database-url", url,
                        env={"CASEBOT_INSTRUCTOR_TOKEN": TOKEN}, log_dir=tmp_path) as base:
        health = httpx.get(f"{base}/healthz", timeout=30)
        assert health.status_code == 200 and health.json()["database"] == "down"
        asked = httpx.post(f"{base}/api/v1/ask", json={"question": "How much did Volkswagen invest?",
                                                       "case": CASE_ID}, timeout=60)
        assert asked.status_code == 200 and asked.json()["answer_id"]
        jwks = httpx.get(f"{base}/lti/jwks", timeout=30)
        assert jwks.status_code == 503 and "error" in jwks.json()
        assert set((data / "lti").glob("*.pem")) == keys_before
        login = httpx.get(f"{base}/lti/login", timeout=30, params={
            "iss": "https://lms.example.edu", "login_hint": "u1", "target_link_uri": f"{base}/embed/"})
        assert login.status_code == 503 and "not reachable" in login.text

        with postgres_server(port):
            deadline = time.monotonic() + 120
            kept: set[str] = set()
            while asked.json()["answer_id"] not in kept and time.monotonic() < deadline:
                exported = httpx.get(f"{base}/api/v1/instructor/questions", params={"case": CASE_ID},
                                     headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
                if exported.status_code == 200:
                    kept = {json.loads(line)["id"] for line in exported.text.splitlines()}
                else:
                    time.sleep(0.5)  # polling with a deadline: the writer retries on its own
            assert asked.json()["answer_id"] in kept
            assert httpx.get(f"{base}/healthz", timeout=30).json()["database"] == "up"
            jwks = httpx.get(f"{base}/lti/jwks", timeout=30)
            assert jwks.status_code == 200 and len(jwks.json()["keys"]) == 1


def test_a_key_the_database_refuses_leaves_no_key_file(tmp_path: Path) -> None:
    from bot.errors import DatabaseError
    from bot.lti.tool import LtiTool, ToolKeys
    from bot.records.database import default_database_url, open_engine
    from bot.records.schema import upgrade_schema

    database = tmp_path / "records.sqlite3"
    upgrade_schema(open_engine(default_database_url(tmp_path)))
    # Read-only (as a full disk refuses writes): reading works, adding the key row does not.
    engine = open_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    tool = LtiTool(engine, ToolKeys(tmp_path / "lti", engine), secret="s" * 40)
    with pytest.raises(DatabaseError):
        tool.jwks()
    assert not list((tmp_path / "lti").glob("*.pem"))


def test_a_database_host_that_never_answers_is_given_up_on_in_seconds() -> None:
    import socket

    from bot.errors import DatabaseError
    from bot.records.database import CONNECT_TIMEOUT_S, open_engine
    from bot.records.schema import upgrade_schema

    # A listening socket nobody accepts on: the kernel completes the handshake and then nothing
    # answers, as with a database host behind a firewall that drops packets.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with pytest.raises(DatabaseError):
            upgrade_schema(open_engine(f"postgresql+psycopg://casebot@127.0.0.1:{port}/casebot"))
        assert time.monotonic() - started < CONNECT_TIMEOUT_S * 3
