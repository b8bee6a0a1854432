"""Write the table of words business cases commonly use (bot/lang/case_vocabulary.py) from the
train split of the written cases: each stem with the share of those cases using it.

    .venv/bin/python training/case_vocabulary.py [--cases training/data] [--out FILE]

It is a count, so the same cases give the same file; `make train` runs it. Only the train split is
read: the dev split judges what the table is used for, and the sealed splits are never read.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))  # run from a checkout without installing

from bot.lang.case_vocabulary import FLOOR, VOCABULARY_FILE, case_word_shares  # noqa: E402
from training.candidates import case_source, split_cases  # noqa: E402


def vocabulary_table(cases: Path) -> str:
    """The table's text for the train split of `cases`: a header, then `stem<TAB>share` lines."""
    case_ids = split_cases(cases, "train")
    texts = [case_source(cases, case_id).read_text(encoding="utf-8") for case_id in case_ids]
    shares = case_word_shares(texts)
    header = (f"# Word stems used by at least {FLOOR:.0%} of the {len(texts)} business cases of the "
              "train split of training/data,\n# with the share of those cases using them. "
              "Written by training/case_vocabulary.py.\n")
    return header + "".join(f"{term}\t{share}\n" for term, share in shares.items())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=Path, default=REPO / "training" / "data",
                        help="written cases with splits.json (default: training/data)")
    parser.add_argument("--out", type=Path, default=VOCABULARY_FILE,
                        help=f"where to write the table (default: {VOCABULARY_FILE.relative_to(REPO)})")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    table = vocabulary_table(args.cases)
    args.out.write_text(table, encoding="utf-8")
    words = sum(1 for line in table.splitlines() if not line.startswith("#"))
    print(f"{words} word stems written to {args.out} in {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
