"""The installation's one secret (bot/secret.py): CASEBOT_SECRET when set, else a file made once,
0600 in a 0700 data folder, the same for processes starting together; never in the database."""

from __future__ import annotations

import stat
import threading
from pathlib import Path

import pytest

from bot.errors import UsageError
from bot.secret import MIN_SECRET_CHARS, load_secret


def test_a_configured_secret_is_used_and_a_short_one_refused(tmp_path: Path) -> None:
    configured = "c" * MIN_SECRET_CHARS
    assert load_secret(configured, tmp_path / "data") == configured
    assert not (tmp_path / "data").exists()  # nothing written when the secret is configured
    with pytest.raises(UsageError, match="at least 32") as refused:
        load_secret("too-short", tmp_path / "data")
    assert "\n" not in str(refused.value) and "too-short" not in str(refused.value)


def test_without_one_a_private_file_is_made_once(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = load_secret("", data)
    assert len(first) == 64 and int(first, 16) >= 0
    assert load_secret("", data) == first  # read back, not made again
    assert stat.S_IMODE((data / "secret").stat().st_mode) == 0o600
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    assert [p.name for p in data.iterdir()] == ["secret"]  # no draft left behind


def test_starters_racing_for_the_file_end_with_one_secret(tmp_path: Path) -> None:
    data = tmp_path / "data"
    starters = 8
    barrier = threading.Barrier(starters)
    seen: list[str] = []

    def start() -> None:
        barrier.wait(timeout=30)
        seen.append(load_secret("", data))

    threads = [threading.Thread(target=start) for _ in range(starters)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(seen) == starters and len(set(seen)) == 1
    assert [p.name for p in data.iterdir()] == ["secret"]


def test_a_damaged_secret_file_is_reported(tmp_path: Path) -> None:
    (tmp_path / "secret").write_text("short\n")
    with pytest.raises(UsageError, match="delete it"):
        load_secret("", tmp_path)
