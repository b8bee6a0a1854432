"""Crash safety of `casebot ingest`: killed with SIGKILL at several points while ingesting a changed
case, and with its Chroma server killed mid-ingest.

A generated case of 100 paragraphs (two versions whose every paragraph differs) gives the ingest
enough work to be interrupted. The kill points come from the ingest's own progress bar on stderr
(no test hooks in the product): before embedding starts, half-way through embedding, the moment
embedding ends (the collection is being written), and shortly after. After every kill, the case
must load as exactly one version, every paragraph from the old one or every paragraph from the
new one, and answer; the next ingest must complete.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import CASEBOT, cli_env, free_port, start_chroma, stop

pytestmark = [pytest.mark.model, pytest.mark.server]

CASE = "crash-case"
PARAGRAPHS = 100
_PROGRESS = re.compile(r"(\d+)/(\d+)")
_PLANTS = "Arden Bexley Corran Dunmore Elstree Fenwick Garrow Hollins Ilford Jarrow".split()


def case_text(version: int) -> str:
    """A case of PARAGRAPHS paragraphs; every paragraph names its version, so versions differ."""
    lines = [f"The Harbour Logistics Case (version {version})", "Background"]
    for n in range(PARAGRAPHS):
        plant = _PLANTS[n % len(_PLANTS)]
        lines.append(f"In quarter {n} of version {version}, the {plant} depot shipped {n * 7 + version} "
                     f"containers to its customers. Managers at {plant} reviewed route {n} weekly.")
    return "\n".join(lines) + "\n"


class Ingest:
    """A `casebot ingest` process whose progress bar is followed as it runs."""

    def __init__(self, path: Path, env: dict[str, str]) -> None:
        self.process = subprocess.Popen([CASEBOT, "ingest", str(path)], env=env, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE)
        self.stderr = b""
        # Notified at each chunk of stderr and at its end: wait_for waits on the output itself.
        self._output = threading.Condition()
        self._ended = False
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        while chunk := self.process.stderr.read1(4096):  # type: ignore[attr-defined]
            with self._output:
                self.stderr += chunk
                self._output.notify_all()
        with self._output:
            self._ended = True
            self._output.notify_all()

    def progress(self) -> tuple[int, int]:
        """The last (done, total) shown by the progress bar, (0, 0) before it appears."""
        found = _PROGRESS.findall(self.stderr.decode(errors="replace"))
        return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)

    def wait_for(self, fraction: float, timeout: float = 240.0) -> None:
        """Block until embedding has reached `fraction` (or the process has ended its output)."""
        def reached() -> bool:
            done, total = self.progress()
            return self._ended or bool(total and done >= fraction * total)

        with self._output:
            self._output.wait_for(reached, timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reader.join(timeout=10)

    def finish(self, timeout: float = 300.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=10)
        return code


def loaded_version(library_env: dict[str, str], embeddings: Any) -> tuple[set[int], bool]:
    """The versions the case's paragraphs come from (in a fresh library), and whether it answers."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from vectorstore.store import CaseLibrary, open_client

    url = library_env.get("CASEBOT_CHROMA_URL")
    client = open_client(Path(library_env["CASEBOT_DATA_DIR"]), url or None)
    library = CaseLibrary(client, embeddings)
    case = library.load(CASE)
    versions = set()
    for _, text in case.paragraphs.values():
        found = re.search(r"version (\d+)", text)
        assert found, text
        versions.add(int(found.group(1)))
    assert len(case.paragraphs) == PARAGRAPHS + 1
    answer = CaseBot(library, ExtractiveAnswerer()).ask("How many containers did the Arden depot ship "
                                                        "in quarter 10?", case=CASE)
    return versions, "[¶" in answer.answer


@pytest.fixture
def case_file(tmp_path: Path) -> Path:
    path = tmp_path / "cases" / f"{CASE}.txt"
    path.parent.mkdir()
    path.write_text(case_text(1), encoding="utf-8")
    return path


# When to kill: (fraction of embedding done, extra delay in seconds after that).
KILL_POINTS = [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (1.0, 0.3)]


def test_kill_9_during_ingest_leaves_one_complete_version(case_file: Path, tmp_path: Path,
                                                          embeddings: Any) -> None:
    env = cli_env(tmp_path / "data")
    assert Ingest(case_file, env).finish() == 0
    current = 1
    outcomes = []
    for fraction, delay in KILL_POINTS:
        target = 2 if current == 1 else 1
        case_file.write_text(case_text(target), encoding="utf-8")
        ingest = Ingest(case_file, env)
        if fraction == 0.0:
            time.sleep(1.0)  # still starting: loading the model, reading the file
        else:
            ingest.wait_for(fraction)
            time.sleep(delay)
        running = ingest.process.poll() is None
        ingest.kill()
        versions, answers = loaded_version(env, embeddings)
        assert len(versions) == 1 and versions <= {current, target}, versions  # never a mix
        assert answers
        outcomes.append((fraction, delay, running, current, target, set(versions)))
        current = versions.pop()
    print("kill points (fraction, delay, still running, from, to, version after):", outcomes)
    # The next ingest completes and switches to what the file now says.
    case_file.write_text(case_text(3), encoding="utf-8")
    ingest = Ingest(case_file, env)
    assert ingest.finish() == 0, ingest.stderr.decode(errors="replace")[-2000:]
    assert loaded_version(env, embeddings) == ({3}, True), outcomes


@pytest.fixture
def chroma_path(tmp_path: Path) -> Path:
    return tmp_path / "chroma-db"


@pytest.fixture
def chroma(chroma_path: Path, tmp_path: Path) -> Iterator[dict[str, Any]]:
    """A Chroma server that the test may kill and restart; stopped at the end."""
    port = free_port()
    state: dict[str, Any] = {"port": port, "url": f"http://127.0.0.1:{port}",
                             "process": start_chroma(chroma_path, port, tmp_path / "chroma.log")}
    try:
        yield state
    finally:
        stop(state["process"])


def test_chroma_server_killed_mid_ingest(case_file: Path, tmp_path: Path, chroma: dict[str, Any],
                                         chroma_path: Path, embeddings: Any) -> None:
    env = cli_env(tmp_path / "local", CASEBOT_CHROMA_URL=chroma["url"])
    assert Ingest(case_file, env).finish() == 0
    case_file.write_text(case_text(2), encoding="utf-8")
    ingest = Ingest(case_file, env)
    ingest.wait_for(1.0)  # embedding done: the new version is being written to the server
    os.kill(chroma["process"].pid, signal.SIGKILL)
    chroma["process"].wait(timeout=30)
    started = time.monotonic()
    code = ingest.finish(timeout=120)
    message = ingest.stderr.decode(errors="replace")
    assert code != 0 and "error:" in message and "Traceback" not in message, message[-2000:]
    assert time.monotonic() - started < 60
    chroma["process"] = start_chroma(chroma_path, chroma["port"], tmp_path / "chroma.log")
    assert loaded_version(env, embeddings) == ({1}, True)
    retry = Ingest(case_file, env)
    assert retry.finish() == 0, retry.stderr.decode(errors="replace")[-2000:]
    assert loaded_version(env, embeddings) == ({2}, True)
