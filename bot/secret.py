"""The one secret of a casebot installation: it signs sessions and tickets and keys pseudonyms.

CASEBOT_SECRET when set (replicas share it), else a random secret kept in `<data_dir>/secret`,
made on first use. It never lives in the records database, so sessions still verify while the
database is down, and a copy of the database does not hold it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from bot.errors import UsageError

# 32 characters of a random hex secret carry 128 bits; a shorter one is likely a placeholder.
MIN_SECRET_CHARS = 32
SECRET_FILE = "secret"


def load_secret(configured: str, data_dir: Path) -> str:
    """`configured` (CASEBOT_SECRET) when set, else the data folder's secret file, created (0600,
    in a 0700 folder) with 32 random bytes as hex on first use; UsageError for a short secret."""
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise UsageError(f"CASEBOT_SECRET is {len(configured)} characters long; use at least "
                             f"{MIN_SECRET_CHARS}, e.g. the output of `python -c \"import secrets; "
                             "print(secrets.token_hex(32))\"`.")
        return configured
    path = Path(data_dir).expanduser() / SECRET_FILE
    if not path.exists():
        _create(path)
    value = path.read_text(encoding="ascii").strip()
    if len(value) < MIN_SECRET_CHARS:
        raise UsageError(f"The secret file {path} holds {len(value)} characters, fewer than "
                         f"{MIN_SECRET_CHARS}: delete it to have a new one made (signed-in sessions "
                         "end), or set CASEBOT_SECRET.")
    return value


def _create(path: Path) -> None:
    """Write a new secret to `path` unless another process does first: written whole to a private
    temporary file, then linked into place, which fails if `path` exists, so two processes starting
    together end with one secret and nobody reads a half-written one."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(32) + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process linked theirs first: use it
            os.link(draft, path)
    finally:
        draft.unlink(missing_ok=True)
