"""The ingest pipeline: find case files, parse them into paragraphs, store them with vectors."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ingest.chunking import case_records
from ingest.layout import Reading
from ingest.loaders import SUPPORTED, LoadError, case_id_for, read_case
from ingest.paragraphs import EmptyCaseError
from vectorstore.store import CaseLibrary, WriteReport


@dataclass(frozen=True)
class IngestOutcome:
    """The result of ingesting one file: a report, or the error that stopped it."""

    path: Path
    case_id: str
    report: WriteReport | None = None
    error: str = ""
    # What reading the file dropped and found ("dropped a running header on 6 pages ..."), if any.
    reading: str = ""


def discover(paths: Iterable[Path]) -> list[Path]:
    """Case files named by `paths`: files as given, folders searched recursively."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(
                p for p in path.rglob("*")
                if p.is_file() and p.suffix.lower() in SUPPORTED
                and not any(part.startswith(".") for part in p.relative_to(path).parts)
                and p.name.lower() not in ("readme.md", "readme.txt")
            ))
        else:
            found.append(path)
    return found


def ingest_file(path: Path, library: CaseLibrary, progress: bool = False) -> WriteReport:
    """Ingest one case file; raises LoadError for files that cannot be used."""
    return ingest_read(path, library, progress)[0]


def ingest_read(path: Path, library: CaseLibrary, progress: bool = False
                ) -> tuple[WriteReport, Reading]:
    """Ingest one case file, with what reading it dropped and found; raises LoadError for files
    that cannot be used (the case's previous version, if any, stays as it was)."""
    case_id = case_id_for(path)
    try:
        case, reading = read_case(path, case_id)
    except EmptyCaseError as error:
        raise LoadError(f"{path}: {error}") from error
    records = case_records(case)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(records), desc=f"Embedding {case_id}", unit="chunk", leave=False)

    def advance(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.n = done
            bar.refresh()

    try:
        report = library.write_case(case_id, case.title, records, source=str(path), progress=advance)
        return report, reading
    finally:
        if bar is not None:
            bar.close()


def ingest_paths(paths: Iterable[Path], library: CaseLibrary, progress: bool = False
                 ) -> list[IngestOutcome]:
    """Ingest every case file under `paths`; a file that fails does not stop the others."""
    outcomes: list[IngestOutcome] = []
    seen: dict[str, Path] = {}
    files = discover(paths)
    if not files:
        raise LoadError("no case files found (supported: " + ", ".join(SUPPORTED) + ")")
    for path in files:
        try:
            case_id = case_id_for(path)
        except LoadError as error:
            outcomes.append(IngestOutcome(path, "", error=str(error)))
            continue
        if case_id in seen:
            outcomes.append(IngestOutcome(path, case_id, error=(
                f"{path}: case id '{case_id}' is also used by {seen[case_id]}; rename one file")))
            continue
        seen[case_id] = path
        try:
            report, reading = ingest_read(path, library, progress)
            outcomes.append(IngestOutcome(path, case_id, report, reading=reading.summary()))
        except LoadError as error:
            outcomes.append(IngestOutcome(path, case_id, error=str(error)))
    return outcomes
