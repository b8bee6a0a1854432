"""The one secret that signs sessions and tickets (stand-in for the records branch's module).

`CASEBOT_SECRET` when set (replicas share it), else a random key kept in a file created 0600 in
the data folder. It never lives in the database, so sessions still verify while it is down.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

from bot.errors import UsageError

MIN_SECRET_CHARS = 32
SECRET_FILE = "secret.key"


def load_secret(configured: str, data_dir: Path) -> str:
    """The configured secret (at least 32 characters), else the data folder's secret file, made on
    first use; UsageError for a configured secret that is too short."""
    if configured:
        if len(configured) < MIN_SECRET_CHARS:
            raise UsageError(f"CASEBOT_SECRET must be at least {MIN_SECRET_CHARS} characters long.")
        return configured
    folder = Path(data_dir).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / SECRET_FILE
    # O_EXCL: two processes starting together keep the first one's secret, not one each.
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text(encoding="ascii").strip()
