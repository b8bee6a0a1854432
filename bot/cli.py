"""The `casebot` command: ingest cases, ask questions, chat in the browser, evaluate, serve.

Only this module (and the app entry points it starts) reads the environment and turns library
errors into messages that say what to do.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import UsageError, describe
from bot.settings import DEFAULT_CASE, MODES, Settings, quiet_libraries

if TYPE_CHECKING:
    from bot.answer import Answer
    from bot.rag.chain import CaseBot
    from vectorstore.store import CaseLibrary

EXIT_OK, EXIT_USAGE = 0, 2
log = logging.getLogger("casebot")


def ingest(paths: Sequence[Path], library: CaseLibrary, progress: bool = True) -> bool:
    """Ingest `paths`, reporting each file on stderr; True when every file went in."""
    from ingest.pipeline import ingest_paths

    ok = True
    for outcome in ingest_paths(paths, library, progress=progress):
        if outcome.report is None:
            ok = False
            print(f"error: {outcome.error}", file=sys.stderr)
            continue
        report = outcome.report
        status = "unchanged" if report.unchanged else (
            f"{report.embedded} chunks embedded, {report.reused} reused")
        read = f"; {outcome.reading}" if outcome.reading else ""
        print(f"{report.case_id}: {report.paragraphs} paragraphs ({status}){read}", file=sys.stderr)
    return ok


def ensure_bundled_case(settings: Settings, library: CaseLibrary) -> None:
    """Ingest the bundled cases when the index holds no case yet (first start of the chat)."""
    if not library.cases():
        print("First start: ingesting the bundled case…", file=sys.stderr)
        ingest([settings.cases_dir], library)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "data_dir": getattr(args, "data_dir", None),
        "chroma_url": getattr(args, "chroma_url", None),
        "llm": getattr(args, "llm", None),
        "llm_fallback": getattr(args, "llm_fallback", None),
        "llm_timeout": getattr(args, "llm_timeout", None),
        "llm_context": getattr(args, "llm_context", None),
        "llm_context_tokens": getattr(args, "llm_context_tokens", None),
        "top_k": getattr(args, "k", None),
        "default_case": getattr(args, "default_case", None),
        "database_url": getattr(args, "database_url", None),
        "case_cache": getattr(args, "case_cache", None),
        "mode": getattr(args, "mode", None),
    }
    # Settings checks every value and raises a UsageError naming the variable or flag.
    return Settings.from_env(**overrides)


def _read_history(path: Path | None) -> tuple:
    from bot.errors import HistoryError
    from bot.rag.conversation import parse_history

    if path is None:
        return ()
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"History file {path} does not exist.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"History file {path} is not valid JSON: {error}") from None
    try:
        return parse_history(raw)
    except HistoryError as error:
        raise UsageError(f"History file {path}: {error}") from None


def format_answer(answer: Answer, width: int = 88) -> str:
    """An answer for the terminal: the text, then each cited paragraph."""
    lines = [textwrap.fill(answer.answer, width)]
    if answer.notice:
        lines += ["", f"note: {answer.notice}"]
    if answer.citations:
        lines += ["", "Sources:"]
        for citation in answer.citations:
            heading = f"  {citation.place}" + (f" · {citation.section}" if citation.section else "")
            lines += [heading, textwrap.fill(citation.text, width, initial_indent="    ",
                                             subsequent_indent="    ")]
    return "\n".join(lines)


def cmd_ingest(args: argparse.Namespace) -> int:
    from bot import factory

    settings = _settings(args)
    paths = args.paths or [settings.cases_dir]
    ok = ingest(paths, factory.open_library(settings), progress=not args.quiet)
    # Files that cannot be read are bad input; a failing store raises StoreError (exit 1).
    return EXIT_OK if ok else EXIT_USAGE


def cmd_ask(args: argparse.Namespace) -> int:
    from bot import factory
    from bot.answer import Answer
    from bot.rag.chain import check_question

    settings = _settings(args)
    history = _read_history(args.history)
    # An empty question is the user's mistake, whatever the index: say so before anything loads.
    check_question(args.question)
    bot = factory.make_bot(settings)
    asked = bot.prepare(args.question, history, args.case or "")
    if args.json:
        print(json.dumps(bot.answer(asked).to_dict(), ensure_ascii=False))
        return EXIT_OK
    final = None
    for piece in bot.respond(asked):
        if isinstance(piece, Answer):
            final = piece
        elif sys.stdout.isatty():
            print(piece, end="", flush=True)
    if final is not None:
        if sys.stdout.isatty():
            print("\r\033[K", end="")
        print(format_answer(final))
    return EXIT_OK


def _served_bot(args: argparse.Namespace) -> tuple[Settings, CaseBot]:
    """Settings with the server flags checked (before the model loads), and a warm CaseBot over
    an index holding at least the bundled case."""
    from bot import factory
    from bot.web.server import serve_settings

    try:
        settings = serve_settings(args, _settings(args))
    except ValueError as error:
        raise UsageError(str(error)) from None
    library = factory.open_library(settings)
    ensure_bundled_case(settings, library)
    bot = factory.make_bot(settings, library)
    bot.warm_up()
    return settings, bot


def cmd_chat(args: argparse.Namespace) -> int:
    from bot.web.server import serve

    settings, bot = _served_bot(args)
    serve(bot, settings, args.host, args.port, verbose=args.verbose,
          open_browser=not args.no_browser, show_snippets=False)
    return EXIT_OK


def cmd_eval(args: argparse.Namespace) -> int:
    from bot.evaluation.runner import run_command

    settings = _settings(args)

    def make_bot() -> CaseBot:
        # Imported only once the run's arguments are known good: a mistake in them is reported
        # before the answerer's modules load.
        from bot import factory

        return factory.make_bot(settings)

    return run_command(args, settings, make_bot)


def cmd_serve(args: argparse.Namespace) -> int:
    from bot.web.server import run_command

    settings, bot = _served_bot(args)
    return run_command(args, settings, bot)


def cmd_questions(args: argparse.Namespace) -> int:
    from bot.records.commands import run_command

    settings = _settings(args)
    if getattr(args, "issuer", None):
        if args.user is None:
            raise UsageError("--issuer goes with --user: the student's id on that platform.")
        # The records know an LTI user only as casebot's pseudonym of (issuer, platform id).
        from bot.lti.routes import build_tool
        from bot.secret import load_secret

        tool = build_tool(settings, load_secret(settings.secret, settings.data_dir))
        args.user = tool.pseudonym(args.issuer.strip(), args.user.strip())
    return run_command(args, settings)


def cmd_lti(args: argparse.Namespace) -> int:
    from bot.lti.cli import run_command

    return run_command(args, _settings(args))


def cmd_cases(args: argparse.Namespace) -> int:
    from bot import factory

    settings = _settings(args)
    library = factory.open_library(settings)
    if args.action in ("remove", "show") and not args.case_id:
        raise UsageError(f"Say which case to {args.action}: casebot cases {args.action} ID")
    if args.action == "remove":
        library.remove_case(args.case_id)
        print(f"removed {args.case_id}", file=sys.stderr)
        return EXIT_OK
    if args.action == "show":
        shown = case_as_read(library, args.case_id)
        print(json.dumps(shown, ensure_ascii=False) if args.json else format_case(shown))
        return EXIT_OK
    cases = library.cases()
    if args.json:
        print(json.dumps([{"id": c.case_id, "title": c.title, "paragraphs": c.paragraphs}
                          for c in cases], ensure_ascii=False))
    elif not cases:
        print("No cases ingested yet. Run `casebot ingest` to add the bundled case.")
    for case in [] if args.json else cases:
        print(f"{case.case_id}\t{case.paragraphs} paragraphs\t{case.title}")
    return EXIT_OK


def case_as_read(library: CaseLibrary, case_id: str) -> dict[str, Any]:
    """The case as casebot read it: `{"id", "title", "paragraphs": [{"paragraph", "label",
    "kind", "section", "page", "text"}]}` (page null for a case without pages)."""
    from bot.answer import page_of

    case = library.load(case_id)
    paragraphs = []
    for number, (section, text) in sorted(case.paragraphs.items()):
        unit = case.units[number]
        paragraphs.append({"paragraph": number, "label": unit.label or f"¶{number}",
                           "kind": unit.kind, "section": section, "page": page_of(unit.pages),
                           "text": text})
    return {"id": case.case_id, "title": case.info.title, "paragraphs": paragraphs}


def format_case(shown: dict[str, Any], width: int = 88) -> str:
    """A case as read, for the terminal: the title, then each paragraph under its place."""
    from bot.answer import place_of

    lines = [shown["title"], "=" * min(width, len(shown["title"]))]
    section = ""
    for paragraph in shown["paragraphs"]:
        if paragraph["section"] != section:
            section = paragraph["section"]
            lines += ["", f"## {section}"]
        kind = "" if paragraph["kind"] == "paragraph" else f" ({paragraph['kind']})"
        lines += ["", place_of(paragraph["label"], paragraph["page"]) + kind]
        lines += [textwrap.fill(line, width, initial_indent="    ", subsequent_indent="    ")
                  for line in paragraph["text"].splitlines() if line.strip()]
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `casebot` and its commands."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", type=Path, metavar="DIR",
                        help="where the index lives (env CASEBOT_DATA_DIR; default: your user data folder)")
    common.add_argument("--chroma-url", metavar="URL",
                        help="use a Chroma server, e.g. http://127.0.0.1:8000 (env CASEBOT_CHROMA_URL)")
    common.add_argument("--llm", metavar="BACKEND",
                        help="extractive (default), openai:<model> or llamacpp:<path.gguf> (env CASEBOT_LLM)")
    common.add_argument("--llm-timeout", type=float, metavar="SECONDS",
                        help="give up on an LLM answer after this long (env CASEBOT_LLM_TIMEOUT; default 30)")
    common.add_argument("--llm-fallback", choices=("extractive", "none"),
                        help="if the LLM fails: answer extractively (default) or fail "
                        "(env CASEBOT_LLM_FALLBACK)")
    common.add_argument("--llm-context", choices=("auto", "whole", "retrieved"),
                        help="what an LLM is shown: the whole case, the retrieved paragraphs, or auto "
                             "(whole when it fits the budget; env CASEBOT_LLM_CONTEXT; default auto)")
    common.add_argument("--llm-context-tokens", type=int, metavar="N",
                        help="token budget for auto: the whole case is sent when it fits "
                             "(env CASEBOT_LLM_CONTEXT_TOKENS; default 12000)")
    common.add_argument("--mode", choices=MODES,
                        help="answer questions (default), or guide: every answer is a hint that points "
                             "to where the case answers and asks what it says (env CASEBOT_MODE)")
    common.add_argument("-k", type=int, metavar="N",
                        help="paragraphs to retrieve per question (env CASEBOT_TOP_K; default 5); a "
                             "paragraph they cannot be read without (\"Second, it ...\") or that states "
                             "the amount or date asked for comes on top")
    common.add_argument("--default-case", metavar="ID",
                        help="the case asked about when none is named (env CASEBOT_DEFAULT_CASE; "
                        f"default: {DEFAULT_CASE} when ingested, else the only case)")
    common.add_argument("--database-url", metavar="URL",
                        help="the records database, a SQLAlchemy URL such as "
                        "postgresql+psycopg://user:pw@host/db (env CASEBOT_DATABASE_URL; default: "
                        "records.sqlite3 in the data folder)")
    common.add_argument("--case-cache", type=int, metavar="N",
                        help="cases kept loaded in memory, least recently used dropped first "
                        "(env CASEBOT_CASE_CACHE; default 32)")
    common.add_argument("-v", "--verbose", action="store_true", help="log details to stderr")

    parser = argparse.ArgumentParser(
        prog="casebot",
        description="Answer students' questions about a teaching case, citing its paragraphs.",
        epilog="Start with `casebot chat` (opens the web chat) or `casebot ask \"What is this "
               "case about?\"`.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("ingest", parents=[common], help="add or update cases in the index",
                            description="Chunk, embed and store case files (.txt .md .pdf .docx "
                            ".html) or folders of them. Unchanged paragraphs are not re-embedded.")
    p.add_argument("paths", nargs="*", type=Path, metavar="PATH",
                   help="case files or folders (default: the bundled cases/)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_ingest)

    p = commands.add_parser("ask", parents=[common], help="answer one question",
                            description="Answer one question about a case, with cited paragraphs.")
    p.add_argument("question", help="the question, in quotes")
    p.add_argument("--case", metavar="ID", help=f"which case (default: {DEFAULT_CASE} or the only one)")
    p.add_argument("--history", type=Path, metavar="FILE",
                   help='earlier turns: a JSON list of {"role": "user"|"assistant", "content": "..."}')
    p.add_argument("--json", action="store_true", help="print exactly one JSON answer object")
    p.set_defaults(func=cmd_ask)

    p = commands.add_parser("chat", parents=[common], help="open the web chat",
                            description="Serve the Gradio chat; ingests the bundled case on first start.")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab")
    p.set_defaults(func=cmd_chat)

    from bot.evaluation import runner as evaluate
    from bot.records import commands as records
    from bot.web import server

    records.add_records_flags(p)

    p = commands.add_parser("eval", parents=[common], help="run a question set and write a report",
                            description=evaluate.DESCRIPTION)
    evaluate.configure_parser(p)
    p.set_defaults(func=cmd_eval)

    p = commands.add_parser("serve", parents=[common], help="serve the chat, the embed page and the JSON API",
                            description=server.DESCRIPTION)
    server.configure_parser(p)
    p.set_defaults(func=cmd_serve)

    p = commands.add_parser("questions", help="export or purge the recorded questions",
                            description=records.DESCRIPTION)
    records.configure_parser(p, parents=[common])
    p.set_defaults(func=cmd_questions)

    p = commands.add_parser("cases", parents=[common],
                            help="list, show (as read, to check before class) or remove ingested cases")
    p.add_argument("action", nargs="?", choices=("list", "show", "remove"), default="list")
    p.add_argument("case_id", nargs="?", metavar="ID")
    p.add_argument("--json", action="store_true", help="print the list, or the case shown, as JSON")
    p.set_defaults(func=cmd_cases)

    from bot.lti import cli as lti_cli

    p = commands.add_parser("lti", help="LTI 1.3 for course portals: platforms, keys, URLs",
                            description=lti_cli.DESCRIPTION)
    lti_cli.configure_parser(p, parents=[common])
    p.set_defaults(func=cmd_lti)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `casebot` command; returns the exit code."""
    quiet_libraries()
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        print("interrupted; the index keeps its last complete version", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader went away (`casebot ask --json … | head`): stop quietly, as other tools do.
        # Python would complain again when it flushes stdout at exit, so point stdout at nothing.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except Exception as error:
        problem = describe(error)
        if problem is None:
            raise
        advice = f" {problem.advice}" if problem.advice else ""
        print(f"error: {problem.message}{advice}", file=sys.stderr)
        return problem.exit_code


if __name__ == "__main__":
    sys.exit(main())
