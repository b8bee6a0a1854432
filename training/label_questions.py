"""Check and label the written question sets of the training cases, and split the cases.

The question writers labelled each question with the case's sentences that answer it (`evidence`,
copied verbatim) and the strings a right answer must hold (`must_include`). This turns those into
the question-set format of DESIGN.md: `expected_paragraphs` are the paragraphs, numbered as
casebot reads the case, that hold the evidence. A question is kept only when its labels check out:

- every evidence sentence is in the case (whitespace aside) and inside one paragraph;
- every must_include string is in its evidence (as the metrics compare: whole words, case and
  punctuation aside);
- an unanswerable question has neither evidence nor must_include.

The rest are listed with the reason and left out. Cases are split into train, dev and test by a
hash of their ids, so no case's questions fall in two splits and a case added later never moves
an existing one to another split.

Run: `.venv/bin/python training/label_questions.py RAW_DIR training/data` (RAW_DIR holds
`<case-id>/case.md` and `<case-id>/questions.jsonl`). A batch of cases written after a test split
was spent, to be a fresh sealed split, goes in whole with `--split test-2` (and so on).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import sys
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.evaluation.metrics import missing_strings  # noqa: E402
from ingest.loaders import case_id_for, load_text  # noqa: E402
from ingest.paragraphs import ParsedCase, parse_case  # noqa: E402

# A case's split by the first byte of its id's SHA-256: 1/8 test, 1/8 dev, the rest train. The test
# split is sealed: run once, never tuned on.
SPLIT_BUCKETS = {0: "test", 1: "dev"}
SPLITS = ("train", "dev", "test")
CATEGORIES = ("fact", "synthesis", "paraphrase", "follow-up", "unanswerable")
_SPACE = re.compile(r"\s+")


def _flat(text: str) -> str:
    return _SPACE.sub(" ", text).strip()


def evidence_paragraphs(case: ParsedCase, evidence: list[str]) -> list[int] | str:
    """The paragraph numbers holding each evidence sentence, in order; a reason string when one
    is not inside a single paragraph."""
    found: list[int] = []
    for sentence in evidence:
        wanted = _flat(sentence)
        where = [p.number for p in case.paragraphs if wanted and wanted in _flat(p.text)]
        if not where:
            return f"evidence not in any paragraph: {sentence[:60]!r}"
        found += [n for n in where[:1] if n not in found]
    return found


def label(case: ParsedCase, raw: dict[str, Any]) -> dict[str, Any] | str:
    """One written question in the question-set format, or the reason it is left out."""
    for key in ("id", "question", "answerable", "category"):
        if key not in raw:
            return f"no {key}"
    if raw["category"] not in CATEGORIES:
        return f"unknown category {raw['category']!r}"
    evidence = [str(s) for s in raw.get("evidence") or []]
    must = [str(s) for s in raw.get("must_include") or []]
    item: dict[str, Any] = {"id": raw["id"], "question": raw["question"]}
    if raw.get("history"):
        item["history"] = raw["history"]
    item["answerable"] = bool(raw["answerable"])
    if not item["answerable"]:
        if evidence or must:
            return "unanswerable with evidence or must_include"
        if raw["category"] != "unanswerable":
            return "answerable false outside the unanswerable category"
    else:
        if not evidence or not must:
            return "answerable without evidence or must_include"
        paragraphs = evidence_paragraphs(case, evidence)
        if isinstance(paragraphs, str):
            return paragraphs
        missing = missing_strings(" ".join(evidence), must)
        if missing:
            return f"must_include not in the evidence: {missing}"
        item["expected_paragraphs"] = paragraphs
        item["must_include"] = must
        item["evidence"] = evidence
    item["reference_answer"] = raw.get("reference_answer", "")
    item["category"] = raw["category"]
    if raw.get("type"):
        item["type"] = raw["type"]
    return item


def split_of(case_id: str) -> str:
    """The split a case belongs to, from its id alone."""
    return SPLIT_BUCKETS.get(hashlib.sha256(case_id.encode()).digest()[0] % 8, "train")


def split_cases(case_ids: list[str]) -> dict[str, list[str]]:
    """Cases by split (train, dev, test)."""
    return {name: sorted(c for c in case_ids if split_of(c) == name) for name in SPLITS}


def batch_split(path: Path, case_ids: list[str], name: str) -> dict[str, list[str]]:
    """The splits of `path` with `case_ids` moved to split `name` (a batch of its own)."""
    existing = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
    splits = {split: [c for c in cases if c not in case_ids] for split, cases in existing.items()}
    splits[name] = sorted(case_ids)
    return splits


def main(argv: list[str] | None = None) -> int:
    """Copy every case of RAW_DIR to OUT_DIR with its labelled questions (when written), split."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("raw", type=Path, help="folder of <case-id>/case.md + questions.jsonl")
    parser.add_argument("out", type=Path, help="where the labelled cases go (training/data)")
    parser.add_argument("--split", metavar="NAME",
                        help="put every case of RAW_DIR in split NAME (a batch written to be a "
                             "fresh sealed split, e.g. test-2) and keep the other cases of "
                             "OUT_DIR/splits.json where they are; default: every case by the hash "
                             "of its id")
    args = parser.parse_args(argv)

    kept_ids: list[str] = []
    dropped: Counter[str] = Counter()
    categories: Counter[str] = Counter()
    for folder in sorted(p for p in args.raw.iterdir() if p.is_dir()):
        source, questions = folder / "case.md", folder / "questions.jsonl"
        if not source.exists():
            continue
        case_id = case_id_for(source)
        case = parse_case(load_text(source), case_id)
        target = args.out / "cases" / case_id
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target / "case.md")
        kept_ids.append(case_id)
        if not questions.exists():
            print(f"{case_id}: {len(case.paragraphs)} paragraphs, no questions yet")
            continue
        labelled = []
        for number, line in enumerate(questions.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
            except json.JSONDecodeError as error:
                print(f"{case_id}:{number}: not JSON ({error})", file=sys.stderr)
                dropped["not JSON"] += 1
                continue
            result = label(case, raw)
            if isinstance(result, str):
                print(f"{case_id}:{number}: left out: {result}", file=sys.stderr)
                dropped[result.split(":")[0]] += 1
            else:
                labelled.append(result)
                categories[result["category"]] += 1
        (target / "questions.jsonl").write_text(
            "".join(json.dumps(q, ensure_ascii=False) + "\n" for q in labelled), encoding="utf-8")
        print(f"{case_id}: {len(case.paragraphs)} paragraphs, {len(labelled)} questions")
    splits = split_cases(kept_ids) if not args.split else batch_split(
        args.out / "splits.json", kept_ids, args.split)
    (args.out / "splits.json").write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
    total = sum(categories.values())
    with_questions = sum((args.out / "cases" / c / "questions.jsonl").exists() for c in kept_ids)
    sizes = ", ".join(f"{k} {len(v)}" for k, v in splits.items())
    print(f"\n{len(kept_ids)} cases, {with_questions} with questions ({sizes}); "
          f"{total} questions kept ({', '.join(f'{k} {v}' for k, v in sorted(categories.items()))}); "
          f"{sum(dropped.values())} left out ({', '.join(f'{k}: {v}' for k, v in dropped.items())})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
