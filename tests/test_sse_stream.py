"""POST /api/v1/ask/stream on the wire, through real `casebot serve` processes: the exact
server-sent-event framing of a streamed answer, read as raw bytes; a client that hangs up
mid-stream (the answer stops, nothing is recorded or logged as an error); and a refused question
answered with a JSON error before any stream starts."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import CASE_FILE, CASE_ID, SERVER_LOGS, running_server
from fake_openai import FakeOpenAI, Reply

pytestmark = [pytest.mark.server, pytest.mark.model]

QUESTION = "How much did Volkswagen invest in XPeng?"
INSTRUCTOR_TOKEN = "instructor-token-for-the-stream-tests"


def parse_stream(raw: bytes) -> list[tuple[str, dict]]:
    """The (event, data) pairs of a raw event stream, checking its framing on the way: UTF-8,
    LF line ends, every event an `event:` line and one `data:` line of JSON, ended by a blank line;
    comment lines (`: ping`) are allowed and skipped, as SSE clients do."""
    text = raw.decode("utf-8")
    assert "\r" not in text, "lines end in LF only"
    assert text.endswith("\n\n"), "the stream ends with a complete event"
    events = []
    for block in text[:-2].split("\n\n"):
        lines = [line for line in block.split("\n") if not line.startswith(":")]
        if not lines:
            continue  # a keep-alive comment on its own
        assert len(lines) == 2, block
        kind, data = lines
        assert kind.startswith("event: ") and data.startswith("data: "), block
        events.append((kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))))
    return events


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def server(ingested_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_server(ingested_data_dir, "--rate-limit", "off",
                        log_dir=tmp_path_factory.mktemp("logs")) as base:
        yield base


def test_a_streamed_answer_is_token_events_then_one_answer_with_valid_citations(server: str) -> None:
    with httpx.stream("POST", f"{server}/api/v1/ask/stream", json={"question": QUESTION},
                      timeout=120) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"  # nginx must not buffer it
        raw = b"".join(response.iter_raw())
    events = parse_stream(raw)
    kinds = [kind for kind, _ in events]
    assert len(kinds) >= 2 and set(kinds[:-1]) == {"token"} and kinds[-1] == "answer", kinds
    assert all(set(data) == {"text"} and data["text"] for kind, data in events if kind == "token")
    final = events[-1][1]
    assert "".join(data["text"] for _, data in events[:-1]).strip() == final["answer"]
    assert "$700 million" in final["answer"] and not final["abstained"] and final["case"] == CASE_ID
    # Text as written: "¶" goes out as UTF-8, not as a \u escape.
    assert "[¶12]".encode() in raw and b"\\u00b6" not in raw
    # Every marker has a citation and every citation a marker, in order of first mention; each
    # citation quotes its paragraph of the source file.
    marked = list(dict.fromkeys(int(n) for n in re.findall(r"\[¶(\d+)\]", final["answer"])))
    assert marked == [c["paragraph"] for c in final["citations"]] and 12 in marked
    source = _flat(CASE_FILE.read_text(encoding="utf-8"))
    for citation in final["citations"]:
        number = citation["paragraph"]
        assert citation["id"] == f"{CASE_ID}:{number}" and citation["label"] == f"¶{number}"
        assert len(citation["text"]) > 40 and _flat(citation["text"]) in source


def test_the_stream_is_documented_as_server_sent_events(server: str) -> None:
    operation = httpx.get(f"{server}/openapi.json", timeout=30).json()["paths"]["/api/v1/ask/stream"]["post"]
    assert "text/event-stream" in operation["responses"]["200"]["content"]
    assert "`answer` event" in operation["responses"]["200"]["description"]
    schema = operation["requestBody"]["content"]["application/json"]["schema"]
    assert schema["$ref"].endswith("/AskRequest")
    assert {"404", "422", "429", "503"} <= set(operation["responses"])


def _exported_questions(base: str) -> list[str]:
    response = httpx.get(f"{base}/api/v1/instructor/questions", params={"case": CASE_ID},
                         headers={"Authorization": f"Bearer {INSTRUCTOR_TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    return [json.loads(line)["question"] for line in response.text.splitlines()]


def test_a_client_that_hangs_up_stops_the_answer_and_the_limit_refuses_with_json(
        ingested_data_dir: Path, tmp_path: Path) -> None:
    # A model that writes slowly: 120 words at 0.1 s each would take 12 s to the end.
    words = " ".join(f"word{n}" for n in range(120))
    slow = Reply(f"Volkswagen invested $700 million in XPeng [¶12]. {words}", word_delay=0.1)
    fake = FakeOpenAI(slow).start()
    env = {"CASEBOT_LLM": "openai:fake-model", "OPENAI_BASE_URL": fake.base_url,
           "OPENAI_API_KEY": "sk-test", "CASEBOT_LLM_FALLBACK": "none", "CASEBOT_LLM_TIMEOUT": "60",
           "CASEBOT_INSTRUCTOR_TOKEN": INSTRUCTOR_TOKEN}
    records = f"sqlite:///{tmp_path / 'records.sqlite3'}"
    try:
        with running_server(ingested_data_dir, "--rate-limit", "2/minute", "--database-url", records,
                            env=env, log_dir=tmp_path) as base:
            gone = "Dropped: how much did Volkswagen invest in XPeng?"
            with httpx.stream("POST", f"{base}/api/v1/ask/stream", json={"question": gone},
                              timeout=120) as response:
                assert response.status_code == 200
                first = next(response.iter_lines())
                assert first == "event: token"
            hung_up = time.monotonic()
            # The server stops reading the model, which sees the connection close long before the
            # 12 s its reply would take.
            assert fake.hung_up.wait(8), "the answer went on after the client left"
            assert time.monotonic() - hung_up < 8

            fake.default = Reply("Volkswagen invested $700 million in XPeng [¶12].")
            kept = "Kept: how much did Volkswagen invest in XPeng?"
            with httpx.stream("POST", f"{base}/api/v1/ask/stream", json={"question": kept},
                              timeout=120) as response:
                events = parse_stream(b"".join(response.iter_raw()))
            assert events[-1][0] == "answer" and "$700 million" in events[-1][1]["answer"]

            # The third question in a minute: refused before a stream starts, as JSON.
            refused = httpx.post(f"{base}/api/v1/ask/stream", json={"question": QUESTION}, timeout=30)
            assert refused.status_code == 429
            assert refused.headers["content-type"].startswith("application/json")
            assert "error" in refused.json() and int(refused.headers["retry-after"]) > 0

            deadline = time.monotonic() + 20  # records are written in the background
            while kept not in (exported := _exported_questions(base)) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert kept in exported and gone not in exported
            log = SERVER_LOGS[base].read_text(errors="replace")
    finally:
        fake.stop()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]
