"""`casebot questions export|purge`, and the records flags of `casebot serve` and `casebot chat`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import UsageError
from bot.settings import Settings

if TYPE_CHECKING:
    from bot.records.repository import RecordStore

DESCRIPTION = (
    "The records of what students asked (CASEBOT_DATABASE_URL; default a SQLite file in the data "
    "folder). `export` writes them as a question set that `casebot eval` runs as it is; `purge` "
    "deletes old ones, or one student's."
)


def add_records_flags(parser: argparse.ArgumentParser) -> None:
    """The records flags of the commands that serve answers."""
    parser.add_argument("--log-questions", choices=("on", "off"),
                        help="keep questions, answers and ratings (env CASEBOT_LOG_QUESTIONS; "
                        "default on)")
    parser.add_argument("--log-retention-days", metavar="DAYS",
                        help="delete records older than this, at start and daily "
                        "(env CASEBOT_LOG_RETENTION_DAYS; default 180)")
    parser.add_argument("--instructor-token", metavar="TOKEN",
                        help="enable /instructor and /api/v1/instructor for whoever holds TOKEN (env "
                        "CASEBOT_INSTRUCTOR_TOKEN, preferred: flags are visible to other users)")


def records_overrides(args: argparse.Namespace) -> dict[str, Any]:
    """The records settings given as flags, as typed (Settings.override checks them)."""
    return {"log_questions": getattr(args, "log_questions", None),
            "log_retention_days": getattr(args, "log_retention_days", None),
            "instructor_token": getattr(args, "instructor_token", None)}


def configure_parser(parser: argparse.ArgumentParser,
                     parents: list[argparse.ArgumentParser] | None = None) -> None:
    """Add the `questions` actions and their flags (`parents`: the common flags, per action)."""
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    export = actions.add_parser("export", parents=parents or [],
                                help="write the recorded questions as a question set",
                                description="Write the recorded questions of a case as a question "
                                "set (.jsonl or .csv, from the file name) with what the bot answered "
                                "and how students rated it. `casebot eval FILE` runs it as it is.")
    export.add_argument("--case", metavar="ID", help="only this case (default: every case)")
    export.add_argument("--abstained", action="store_true", help="only the declined questions")
    export.add_argument("--rating", choices=("up", "down"), help="only answers rated up or down")
    export.add_argument("--output", "-o", type=Path, required=True, metavar="FILE",
                        help="where to write (.jsonl or .csv; - for stdout as JSONL)")
    purge = actions.add_parser("purge", parents=parents or [],
                               help="delete records older than some days, or one student's",
                               description="Delete the questions (and their ratings) asked more "
                               "than DAYS days ago, or every question of one student. The server "
                               "deletes records older than CASEBOT_LOG_RETENTION_DAYS by itself.")
    which = purge.add_mutually_exclusive_group(required=True)
    which.add_argument("--older-than", type=float, metavar="DAYS",
                       help="delete records older than this many days (0 deletes all)")
    which.add_argument("--user", metavar="ID",
                       help="delete one student's records: a session id, casebot's pseudonym of an "
                       "LTI user, or, with --issuer, the user's id on that platform (the LTI `sub`)")
    purge.add_argument("--issuer", metavar="URL",
                       help="with --user: the LTI platform (issuer) whose user id --user names")


def _store(settings: Settings) -> RecordStore:
    from bot.records.recorder import open_store

    return open_store(settings).create()


def run_command(args: argparse.Namespace, settings: Settings) -> int:
    """Run `casebot questions ACTION`; returns the exit code (UsageError for bad usage)."""
    from bot.records.export import export_lines
    from bot.records.repository import check_age_days

    if args.action == "purge" and args.user is None:
        check_age_days(args.older_than, "--older-than")  # before the database is opened
    store = _store(settings)
    if args.action == "purge":
        if args.user is not None:
            removed = store.purge_user(args.user)
            which = "of that user"
        else:
            removed = store.purge(args.older_than)
            which = f"older than {args.older_than:g} days"
        print(f"purged {removed} record{'s' if removed != 1 else ''} {which}", file=sys.stderr)
        return 0
    output: Path = args.output
    to_stdout = str(output) == "-"
    fmt = "jsonl" if to_stdout else output.suffix.lower().lstrip(".")
    if fmt not in ("jsonl", "csv"):
        raise UsageError(f"--output must end in .jsonl or .csv, got {output}")
    rows = store.answers(args.case or None, abstained=True if args.abstained else None,
                         rating=args.rating)
    if to_stdout:
        sys.stdout.writelines(export_lines(rows, fmt))
    else:
        output.parent.mkdir(parents=True, exist_ok=True)
        with output.open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(export_lines(rows, fmt))
    print(f"exported {len(rows)} question{'s' if len(rows) != 1 else ''}"
          + (f" of {args.case}" if args.case else "") + ("" if to_stdout else f" to {output}"),
          file=sys.stderr)
    return 0
