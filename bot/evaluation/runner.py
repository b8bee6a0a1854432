"""`casebot eval`: run a question set through the bot, score it, and write a report.

A run writes three files into its output folder: `results.jsonl` (one answer object per question,
with `id`, `question` and `retrieved`), `summary.json` (the metrics, their definitions and each
question's verdict) and `report.html`. Each file is written to a temporary file and renamed into
place, and nothing is written before every question has been answered, so a crash or Ctrl-C
leaves the folder as it was.

Exit codes: 0 success, 1 failure (every question raised an error), 2 usage error (bad flags, bad
question file, unknown case), 3 a `--min`/`--max` threshold was not met.

This module is imported when `casebot --help` builds its parser: heavy imports stay in functions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.errors import UsageError
from bot.evaluation.metrics import (
    HIGHER_IS_BETTER,
    LOWER_IS_BETTER,
    METRICS,
    Outcome,
    format_value,
    score_question,
    summarize,
)
from bot.evaluation.questions import Question, load_questions

if TYPE_CHECKING:
    from bot.rag.chain import CaseBot
    from bot.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_BELOW_THRESHOLD = 0, 1, 3
RESULTS, SUMMARY, REPORT = "results.jsonl", "summary.json", "report.html"
WARM_UP_QUESTION = "What is this case about?"
PERCENT_METRICS = frozenset(name for name in METRICS if not name.endswith("_ms"))

DESCRIPTION = (
    "Run a test question set (.jsonl or .csv; default: the case's own questions.jsonl) through the "
    "bot and write DIR/results.jsonl, DIR/summary.json and DIR/report.html. Metrics: retrieval "
    "recall@1/3/5 and MRR, citation precision/recall, must_include hit rate, token F1, abstention "
    "accuracy, false abstentions, latency p50/p95. `--compare A B` shows what changed between two "
    "runs. Exit codes: 0 ok, 1 failure, 2 usage error, 3 a --min/--max threshold was not met."
)


def configure_parser(parser: argparse.ArgumentParser) -> None:
    """Add the `eval` arguments to `parser`."""
    parser.add_argument("questions", nargs="?", type=Path, metavar="QUESTIONS",
                        help="question file, .jsonl or .csv (default: cases/<case>/questions.jsonl)")
    parser.add_argument("--case", metavar="ID", help="which case (default: xpeng-volkswagen or the only one)")
    parser.add_argument("--output", "-o", type=Path, metavar="DIR",
                        help="folder for results.jsonl, summary.json and report.html (required "
                             "unless --compare)")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("RUN_A", "RUN_B"),
                        help="compare two earlier runs (their output folders): metric deltas and "
                             "questions that flipped between pass and fail; --min/--max then apply "
                             "to RUN_B")
    parser.add_argument("--min", action="append", default=[], metavar="METRIC=VALUE",
                        help="exit with code 3 when METRIC is below VALUE (repeatable), e.g. "
                             "--min recall@5=0.8 --min pass_rate=0.7. Metrics: "
                             + ", ".join(HIGHER_IS_BETTER))
    parser.add_argument("--max", action="append", default=[], metavar="METRIC=VALUE",
                        help="exit with code 3 when METRIC is above VALUE (repeatable), for "
                             + ", ".join(LOWER_IS_BETTER))
    parser.add_argument("--judge", action="store_true",
                        help="also have the configured LLM (--llm openai:<model>) judge each answer's "
                        "faithfulness and correctness; off by default")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


# --- thresholds ---------------------------------------------------------------------------------

def parse_thresholds(specs: Sequence[str], allowed: Sequence[str], flag: str) -> dict[str, float]:
    """`METRIC=VALUE` strings as a dict; UsageError naming the valid metrics otherwise."""
    thresholds: dict[str, float] = {}
    for spec in specs:
        name, sep, raw = spec.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"{flag} {spec!r}: write METRIC=VALUE, e.g. {flag} {allowed[0]}=0.8")
        if name not in allowed:
            other = "--max" if flag == "--min" else "--min"
            hint = f" ({name} belongs with {other})" if name in METRICS else ""
            raise UsageError(f"{flag}: unknown metric {name!r}{hint}. Valid metrics for {flag}: "
                                 f"{', '.join(allowed)}")
        try:
            thresholds[name] = float(raw)
        except ValueError:
            raise UsageError(f"{flag} {spec!r}: {raw!r} is not a number") from None
    return thresholds


def check_thresholds(metrics: dict[str, Any], minimums: dict[str, float],
                     maximums: dict[str, float]) -> list[str]:
    """One message per threshold the metrics miss; a metric that was not measured misses."""
    misses = []
    for name, bound in minimums.items():
        value = metrics.get(name)
        if value is None:
            misses.append(f"{name} was not measured (no question it applies to); --min {name}={bound:g}")
        elif value < bound:
            misses.append(f"{name} = {value:.4g} is below the minimum {bound:g}")
    for name, bound in maximums.items():
        value = metrics.get(name)
        if value is None:
            misses.append(f"{name} was not measured; --max {name}={bound:g}")
        elif value > bound:
            misses.append(f"{name} = {value:.4g} is above the maximum {bound:g}")
    return misses


# --- running ------------------------------------------------------------------------------------

def outcome_of(row: dict[str, Any]) -> Outcome:
    """The metric inputs of one results.jsonl row."""
    return Outcome(
        answer=str(row.get("answer", "")),
        abstained=bool(row.get("abstained", False)),
        cited=tuple(int(c["paragraph"]) for c in row.get("citations", [])),
        retrieved=tuple(int(r["paragraph"]) for r in row.get("retrieved", [])),
        latency_ms=float(row["latency_ms"]) if row.get("latency_ms") is not None else None,
        error=str(row.get("error", "")),
        faithful=(row.get("judge") or {}).get("faithful"),
        correct=(row.get("judge") or {}).get("correct"),
    )


def ask_question(bot: CaseBot, question: Question, case: str) -> dict[str, Any]:
    """One results.jsonl row: the answer object plus `id`, `question` and `retrieved`.

    A question the bot cannot answer (an error other than a store failure) becomes a row with an
    `error` field, so one bad question does not throw away a long run.
    """
    from vectorstore.store import CaseNotFoundError, StoreError

    try:
        answer = bot.ask(question.question, question.history, case)
    except (StoreError, CaseNotFoundError):
        raise
    except Exception as error:
        return {"id": question.id, "question": question.question, "answer": "", "abstained": False,
                "citations": [], "case": case, "backend": bot.answerer.name, "latency_ms": None,
                "retrieved": [], "error": f"{type(error).__name__}: {error}"}
    return {"id": question.id, "question": question.question, **answer.to_dict(),
            "retrieved": [{"paragraph": r.paragraph, "score": r.score} for r in answer.retrieved]}


def run_questions(bot: CaseBot, questions: Sequence[Question], case: str, progress: bool = True
                  ) -> list[dict[str, Any]]:
    """Ask every question, with a progress bar on stderr; the results.jsonl rows in order."""
    from tqdm import tqdm

    rows = []
    with tqdm(questions, desc=f"Evaluating {case}", unit="q", file=sys.stderr,
              disable=not progress, dynamic_ncols=True) as bar:
        for question in bar:
            rows.append(ask_question(bot, question, case))
    return rows


def judge_rows(model: Any, title: str, questions: Sequence[Question], rows: list[dict[str, Any]],
               progress: bool = True) -> None:
    """Add the LLM judge's verdict to every row (`judge`: faithful, correct, note)."""
    from tqdm import tqdm

    from bot.evaluation.judge import judge_answer

    pairs = list(zip(questions, rows, strict=True))
    for question, row in tqdm(pairs, desc="Judging", unit="q", file=sys.stderr, disable=not progress):
        row["judge"] = judge_answer(model, title, question, row).to_dict()


def build_summary(questions: Sequence[Question], rows: Sequence[dict[str, Any]],
                  run: dict[str, Any]) -> dict[str, Any]:
    """summary.json: run details, then the metrics of `rows` scored against `questions`."""
    scores = [score_question(q, outcome_of(row)) for q, row in zip(questions, rows, strict=True)]
    return {"run": run, **summarize(scores)}


def write_atomically(files: dict[Path, str]) -> None:
    """Write every file to a temporary sibling first, then rename them all into place."""
    staged: list[tuple[str, Path]] = []
    umask = os.umask(0)
    os.umask(umask)
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
            staged.append((tmp, path))
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; reports are meant to be shared
            with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
        for tmp, path in staged:
            os.replace(tmp, path)
    finally:
        for tmp, _ in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def write_run(output: Path, rows: Sequence[dict[str, Any]], summary: dict[str, Any],
              questions: Sequence[Question]) -> None:
    """results.jsonl, summary.json and report.html in `output`, each complete or not at all."""
    from bot.evaluation.report import render_report

    results = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    write_atomically({
        output / RESULTS: results,
        output / SUMMARY: json.dumps(summary, ensure_ascii=False, indent=2) + "\n",
        output / REPORT: render_report(summary, rows, questions),
    })


# --- terminal output ----------------------------------------------------------------------------

def format_table(summary: dict[str, Any]) -> str:
    """The metrics and per-category pass counts as a plain-text table."""
    metrics, counts = summary["metrics"], summary["counts"]
    lines = [f"{'metric':<24}{'value':>10}{'questions':>11}", "-" * 45]
    for name in METRICS:
        lines.append(f"{name:<24}{format_value(name, metrics.get(name)):>10}{counts.get(name, 0):>11}")
    lines += ["", f"{'category':<24}{'passed':>10}{'rate':>11}", "-" * 45]
    for category, data in summary["by_category"].items():
        labelled = data["questions"] - data.get("unlabelled", 0)
        if not labelled:
            lines.append(f"{category:<24}{'unlabelled':>10}{data['questions']:>11}")
            continue
        rate = data["passed"] / labelled
        lines.append(f"{category:<24}{data['passed']:>6}/{labelled:<3}{rate:>11.0%}")
    unlabelled = summary.get("unlabelled", 0)
    lines += ["", f"passed {summary['passed']}/{summary['questions'] - unlabelled} questions"
              + (f"; {unlabelled} unlabelled (in the answer metrics, no pass/fail: set "
                 "'answerable' to score them)" if unlabelled else "")]
    return "\n".join(lines)


def _read_run(folder: Path) -> dict[str, Any]:
    path = folder / SUMMARY
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{folder} holds no {SUMMARY}: pass the --output folder of an earlier "
                             f"`casebot eval` run") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UsageError(f"{path} cannot be read: {error}") from None
    if not isinstance(summary, dict) or not isinstance(summary.get("metrics"), dict):
        raise UsageError(f"{path} is not a casebot eval summary")
    return summary


def compare_runs(summary_a: dict[str, Any], summary_b: dict[str, Any], label_a: str = "A",
                 label_b: str = "B") -> str:
    """Per-metric deltas from run A to run B, and the questions that flipped between them."""
    width = max(10, len(label_a) + 2, len(label_b) + 2)
    lines = [f"{'metric':<24}{label_a:>{width}}{label_b:>{width}}{'delta':>10}", "-" * (34 + 2 * width)]
    for name, (_, higher) in METRICS.items():
        a, b = summary_a["metrics"].get(name), summary_b["metrics"].get(name)
        delta, verdict = "", ""
        if a is not None and b is not None:
            diff = b - a
            delta = f"{diff:+.3f}" if name in PERCENT_METRICS else f"{diff:+,.0f}"
            if abs(diff) > 1e-9:
                verdict = "  better" if (diff > 0) == higher else "  worse"
        lines.append(f"{name:<24}{format_value(name, a):>{width}}{format_value(name, b):>{width}}"
                     f"{delta:>10}{verdict}")
    verdicts_a = {q["id"]: q for q in summary_a.get("per_question", [])}
    verdicts_b = {q["id"]: q for q in summary_b.get("per_question", [])}
    both = [i for i in verdicts_b if i in verdicts_a]
    worse = [i for i in both if verdicts_a[i]["passed"] and not verdicts_b[i]["passed"]]
    better = [i for i in both if not verdicts_a[i]["passed"] and verdicts_b[i]["passed"]]
    for title, ids in (("pass -> fail", worse), ("fail -> pass", better)):
        lines += ["", f"{title} ({len(ids)}):"]
        for qid in ids:
            reasons = "; ".join(verdicts_b[qid].get("reasons", []))
            lines.append(f"  {qid}" + (f"  {reasons}" if reasons else ""))
        if not ids:
            lines.append("  none")
    only_a = [i for i in verdicts_a if i not in verdicts_b]
    only_b = [i for i in verdicts_b if i not in verdicts_a]
    if only_a:
        lines += ["", f"only in {label_a} ({len(only_a)}): {', '.join(only_a)}"]
    if only_b:
        lines += ["", f"only in {label_b} ({len(only_b)}): {', '.join(only_b)}"]
    return "\n".join(lines)


# --- the command --------------------------------------------------------------------------------

def _finish(metrics: dict[str, Any], minimums: dict[str, float], maximums: dict[str, float]) -> int:
    misses = check_thresholds(metrics, minimums, maximums)
    for miss in misses:
        print(f"threshold not met: {miss}", file=sys.stderr)
    return EXIT_BELOW_THRESHOLD if misses else EXIT_OK


def _run(args: argparse.Namespace, settings: Settings, make_bot: Callable[[], CaseBot],
         minimums: dict[str, float], maximums: dict[str, float]) -> int:
    if args.compare:
        if args.questions is not None or args.output is not None:
            raise UsageError("--compare takes two run folders and no QUESTIONS or --output")
        run_a, run_b = args.compare
        summary_a, summary_b = _read_run(run_a), _read_run(run_b)
        print(compare_runs(summary_a, summary_b, str(run_a), str(run_b)))
        return _finish(summary_b["metrics"], minimums, maximums)
    if args.output is None:
        raise UsageError("say where to write the run: --output DIR (or compare runs with "
                             "--compare RUN_A RUN_B)")
    if args.output.exists() and not args.output.is_dir():
        raise UsageError(f"--output {args.output} is a file, not a folder")

    # Mistakes in what was asked for fail before the store opens or the model loads.
    if args.questions is None and args.case:
        args.questions = _question_set(settings, args.case)
    questions = load_questions(args.questions) if args.questions is not None else None
    bot = make_bot()
    judge = None
    if args.judge:
        from bot.answerers.llm import LLMAnswerer  # langchain: only when a judge is asked for

        judge = bot.answerer.model if isinstance(bot.answerer, LLMAnswerer) else None
    if args.judge and judge is None:
        raise UsageError("--judge needs an LLM backend: add --llm openai:<model> (or set CASEBOT_LLM)")
    case = args.case or bot.default_case()
    bot.library.info(case)  # an unknown case fails now, not after the first question
    if questions is None:
        args.questions = _question_set(settings, case)
        questions = load_questions(args.questions)
    # One untimed question first: loading the model and the case is start-up work a running
    # server does once, and would otherwise be charged to the first question's latency.
    bot.ask(WARM_UP_QUESTION, (), case)

    started = datetime.now(UTC)
    began = time.perf_counter()
    rows = run_questions(bot, questions, case, progress=not args.quiet)
    if judge is not None:
        judge_rows(judge, bot.library.info(case).title, questions, rows, progress=not args.quiet)
    run = {
        "case": case,
        "backend": bot.answerer.name,
        "questions_file": str(args.questions),
        "k": bot.k,
        "judged": judge is not None,
        "started_at": started.isoformat(timespec="seconds"),
        "duration_s": round(time.perf_counter() - began, 1),
    }
    summary = build_summary(questions, rows, run)
    write_run(args.output, rows, summary, questions)

    errors = [row for row in rows if row.get("error")]
    print(format_table(summary))
    print(f"\nreport: {args.output / REPORT}", file=sys.stderr)
    if errors:
        print(f"warning: {len(errors)} question(s) raised an error (see the report), e.g. "
              f"{errors[0]['id']}: {errors[0]['error']}", file=sys.stderr)
        if len(errors) == len(rows):
            return EXIT_FAILURE
    return _finish(summary["metrics"], minimums, maximums)


def _question_set(settings: Settings, case: str) -> Path:
    """The case's own question set; UsageError when it has none."""
    path = settings.cases_dir / case / "questions.jsonl"
    if not path.is_file():
        raise UsageError(f"case '{case}' has no question set at {path}; pass a QUESTIONS "
                         f"file (.jsonl or .csv)")
    return path


def run_command(args: argparse.Namespace, settings: Settings, make_bot: Callable[[], CaseBot]) -> int:
    """Carry out `casebot eval` (a run, or --compare); returns the exit code."""
    minimums = parse_thresholds(args.min, HIGHER_IS_BETTER, "--min")
    maximums = parse_thresholds(args.max, LOWER_IS_BETTER, "--max")
    return _run(args, settings, make_bot, minimums, maximums)
