"""Scale benchmark (not a test): a generated library of 200 cases (~10,000 paragraphs).

Measures, in a fresh temporary folder (your data folder is never touched):

- `casebot ingest` of the whole library: wall time and peak memory of the process;
- `casebot ingest` again with nothing changed: it must embed nothing (target under 10 s);
- warm answer latency p50/p95 at 1, 20 and 200 ingested cases (target p95 under 200 ms at 200),
  both for `CaseBot.ask` and for the HTTP API's path (case lookup + ask).

The 1- and 20-case libraries are copies of the 200-case store with the other cases removed, so the
library is embedded only once. Run with `nice .venv/bin/python benchmarks/scale.py` (20 to 40
minutes on a busy 2-core machine; `--cases 20 --paragraphs 20` for a quick look).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

# Importing benchmarks.latency also keeps the libraries offline and quiet (environment variables).
from benchmarks.latency import Row, kib_to_mb, measure_casebot, render  # noqa: E402
from bot.evaluation.metrics import percentile  # noqa: E402

REINGEST_TARGET_S = 10.0
P95_TARGET_MS = 200.0
LATENCY_STEPS = (1, 20, 200)

_COMPANIES = """Arlen Brightwater Calloway Dunmore Everly Fairhaven Glenrock Halvorsen Ironvale Jasperton
Kestrel Lindqvist Marlowe Northcote Oakridge Pemberton Quillon Ravensworth Stonebridge Thornbury
Ulverston Vantage Westmere Yardley Zephyr Ashcombe Birchwood Cresswell Delacroix Elmstead""".split()
_SECTORS = ["battery", "logistics", "coffee", "textile", "software", "solar", "shipping", "retail",
            "pharmaceutical", "aerospace", "dairy", "steel", "insurance", "gaming", "telecom"]
_CITIES = ["Lyon", "Osaka", "Austin", "Leeds", "Porto", "Gdansk", "Pune", "Denver", "Malmo", "Recife",
           "Perth", "Tianjin", "Nairobi", "Quebec", "Seville"]
_PEOPLE = ["Maria Okafor", "Daniel Brandt", "Aiko Tanaka", "Luis Moreno", "Priya Nair", "Tom Becker",
           "Sofia Rossi", "Chen Wei", "Amara Diallo", "Jonas Lindgren", "Elena Petrova", "Omar Haddad"]
_MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"]
_SECTIONS = ["Background", "The Market", "The Decision", "Financing the Plan", "Operations",
             "The Board Meeting", "Competitors", "Looking Ahead"]
_SENTENCES = [
    "{company} was founded in {city} in {year} by {person}, a former engineer.",
    "By {year}, {company} had grown revenue to ${amount} million, mostly from its {sector} business.",
    "{person} believed the {sector} market in {city} would double within five years.",
    "The board approved an investment of ${amount} million in a new plant near {city}.",
    "Competitors in the {sector} industry cut prices by {pct}% during {month} {year}.",
    "{company} employed {staff} people, of whom a third worked in research.",
    "Customers complained that deliveries from the {city} warehouse took too long.",
    "In {month} {year}, {person} announced a partnership with a rival from {city}.",
    "The company's margins fell to {pct}% as raw material costs kept rising.",
    "Analysts questioned whether {company} could finance the expansion without new debt.",
    "{person} told investors that software would decide the future of the {sector} business.",
    "A regional bank offered a loan of ${amount} million at an interest rate of {rate}%.",
    "The new product line reached {staff} stores within its first year.",
    "Union leaders in {city} demanded higher wages before the plant could open.",
    "{company} kept its headquarters in {city} even after the merger talks failed.",
]


def sentence(rng: random.Random, company: str) -> str:
    """One synthetic but realistic case sentence about `company`."""
    return rng.choice(_SENTENCES).format(
        company=company, city=rng.choice(_CITIES), year=rng.randint(1985, 2023),
        person=rng.choice(_PEOPLE), sector=rng.choice(_SECTORS), amount=rng.randint(5, 900),
        pct=rng.randint(2, 40), month=rng.choice(_MONTHS), staff=rng.randint(40, 9000),
        rate=rng.randint(2, 9))


def generate_library(root: Path, cases: int, paragraphs: int, seed: int = 7) -> list[tuple[str, str]]:
    """Write `cases` case files of `paragraphs` paragraphs under `root`; (case id, company) each."""
    rng = random.Random(seed)
    made = []
    for index in range(cases):
        company = f"{rng.choice(_COMPANIES)} {rng.choice(_SECTORS).title()} Group {index}"
        case_id = f"case-{index:03d}"
        lines = [f"{company}: A Decision in {rng.choice(_CITIES)}", ""]
        per_section = max(1, paragraphs // len(_SECTIONS))
        for number in range(paragraphs - 1):
            if number % per_section == 0:
                lines += [_SECTIONS[(number // per_section) % len(_SECTIONS)], ""]
            lines += [" ".join(sentence(rng, company) for _ in range(rng.randint(1, 3))), ""]
        folder = root / case_id
        folder.mkdir(parents=True)
        (folder / "case.txt").write_text("\n".join(lines), encoding="utf-8")
        made.append((case_id, company))
    return made


_QUESTIONS = [
    "Who founded {company}?", "What happened at {company} in {month} {year}?",
    "How many people did {company} employ in {city}?", "Why did margins fall in the {sector} business?",
    "How much did the bank lend for the plant near {city}?", "What did {person} tell investors?",
    "Why did union leaders in {city} demand higher wages?", "What did analysts question in {year}?",
]


def question(rng: random.Random, company: str) -> str:
    """A question about a case, varied enough that query vectors are rarely cached."""
    return rng.choice(_QUESTIONS).format(
        company=company, city=rng.choice(_CITIES), year=rng.randint(1985, 2023),
        month=rng.choice(_MONTHS), sector=rng.choice(_SECTORS), person=rng.choice(_PEOPLE))


def measured_ingest(data_dir: Path, library_dir: Path) -> tuple[float, float, str]:
    """Seconds, peak MiB and stderr of one `casebot ingest --quiet LIBRARY` process."""
    result = measure_casebot(data_dir, "ingest", "--quiet", str(library_dir))
    if result["code"] != 0:
        raise SystemExit(f"casebot ingest failed ({result['code']}): {result['stderr'][-2000:]}")
    return float(result["seconds"]), float(result["peak_mb"]), str(result["stderr"])


def latencies(data_dir: Path, companies: Sequence[tuple[str, str]], runs: int
              ) -> tuple[list[float], list[float], float]:
    """Warm latencies (ms) of `CaseBot.ask` and of the API path (case lookup + ask), and peak RSS MiB.

    Warm: the model and every case are loaded first; the timed questions are new ones.
    """
    import resource

    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(data_dir), SentenceEmbeddings())
    bot = CaseBot(library, ExtractiveAnswerer())
    present = {info.case_id for info in library.cases()}
    asked = [(case, company) for case, company in companies if case in present]
    rng = random.Random(1)
    for case, company in asked:  # first questions load the case and its word vectors
        for _ in range(3):
            bot.ask(question(rng, company), case=case)
    plain, api = [], []
    for _ in range(runs):
        case, company = rng.choice(asked)
        text = question(rng, company)
        started = time.perf_counter()
        bot.ask(text, case=case)
        plain.append((time.perf_counter() - started) * 1000)
        text = question(rng, company)
        started = time.perf_counter()
        library.info(case)  # what /api/v1/ask does before answering
        bot.ask(text, case=case)
        api.append((time.perf_counter() - started) * 1000)
    return plain, api, kib_to_mb(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def keep_only(source: Path, target: Path, keep: set[str]) -> None:
    """A copy of the store at `source` holding only the cases in `keep`."""
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    shutil.copytree(source, target)
    library = CaseLibrary(open_client(target), SentenceEmbeddings())
    for info in library.cases():
        if info.case_id not in keep:
            library.remove_case(info.case_id)


def run(cases: int, paragraphs: int, runs: int, workdir: Path) -> list[Row]:
    """Generate, ingest, re-ingest and time answers; the rows of the results table."""
    rows: list[Row] = []
    library_dir = workdir / "library"
    questions = generate_library(library_dir, cases, paragraphs)
    total = cases * paragraphs
    rows.append(Row("library", f"{cases} cases, {total:,} paragraphs",
                    f"{sum(f.stat().st_size for f in library_dir.rglob('*.txt')) / 1e6:.1f} MB text"))
    data_dir = workdir / "data"
    seconds, peak, _ = measured_ingest(data_dir, library_dir)
    rows.append(Row("`casebot ingest` (fresh store)", f"{seconds:.0f} s",
                    f"{total / seconds:.0f} paragraphs/s"))
    rows.append(Row("peak RSS of that ingest", f"{peak:.0f} MiB"))
    seconds, peak, stderr = measured_ingest(data_dir, library_dir)
    unchanged = stderr.count("(unchanged)")
    embedded_nothing = unchanged == cases and "embedded" not in stderr
    rows.append(Row("`casebot ingest` again, unchanged", f"{seconds:.1f} s",
                    f"< {REINGEST_TARGET_S:.0f} s; {unchanged}/{cases} unchanged, "
                    f"{'nothing' if embedded_nothing else 'SOMETHING'} embedded",
                    seconds < REINGEST_TARGET_S and embedded_nothing))
    rows.append(Row("peak RSS of that re-ingest", f"{peak:.0f} MiB"))
    for step in sorted({min(s, cases) for s in LATENCY_STEPS}):
        store = data_dir
        if step < cases:
            store = workdir / f"data-{step}"
            keep_only(data_dir, store, {case for case, _ in questions[:step]})
        plain, api, rss = latencies(store, questions[:step], runs)
        p95 = percentile(api, 95)
        target = f"< {P95_TARGET_MS:.0f} ms" if step == max(LATENCY_STEPS) else ""
        rows.append(Row(f"warm ask at {step} cases: p50 / p95 (CaseBot.ask)",
                        f"{percentile(plain, 50):.0f} / {percentile(plain, 95):.0f} ms"))
        rows.append(Row(f"warm ask at {step} cases: p50 / p95 (API path)",
                        f"{percentile(api, 50):.0f} / {p95:.0f} ms", target,
                        p95 < P95_TARGET_MS if target else None))
        rows.append(Row(f"peak RSS after answering at {step} cases", f"{rss:.0f} MiB",
                        "model + every case loaded"))
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark and print the table; exit 1 when a target is missed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cases", type=int, default=200, help="cases to generate (default 200)")
    parser.add_argument("--paragraphs", type=int, default=50, help="paragraphs per case (default 50)")
    parser.add_argument("--runs", type=int, default=200, help="timed questions per step (default 200)")
    parser.add_argument("--keep", type=Path, help="work in this folder and keep it (default: a temp folder)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=False)
        rows = run(args.cases, args.paragraphs, args.runs, args.keep)
    else:
        with tempfile.TemporaryDirectory(prefix="casebot-scale-") as tmp:
            rows = run(args.cases, args.paragraphs, args.runs, Path(tmp))
    print(render(rows))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n{os.cpu_count()} CPUs, load average {load:.2f} at the end; "
          f"{(time.perf_counter() - started) / 60:.0f} min in all; Python {sys.version.split()[0]}")
    return 0 if all(row.ok is not False for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
