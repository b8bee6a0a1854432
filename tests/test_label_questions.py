"""training/label_questions.py's splits: by the hash of a case's id, or, for a batch written to be
a fresh sealed split, the whole batch in its own split with every other case kept where it was."""

from __future__ import annotations

import json
from pathlib import Path

from training.label_questions import SPLITS, batch_split, split_cases, split_of


def test_a_case_keeps_its_split_whatever_other_cases_exist() -> None:
    ids = [f"{n:02d}-case" for n in range(1, 41)]
    alone = {c: split_of(c) for c in ids}
    together = split_cases(ids)
    assert set(together) == set(SPLITS)
    assert {c: name for name, cases in together.items() for c in cases} == alone
    assert all(together[name] for name in SPLITS)  # 40 ids fill every bucket


def test_a_batch_goes_whole_into_its_own_split_and_moves_no_other_case(tmp_path: Path) -> None:
    path = tmp_path / "splits.json"
    before = {"train": ["01-a", "02-b"], "dev": ["03-c"], "test": ["04-d"]}
    path.write_text(json.dumps(before), encoding="utf-8")
    after = batch_split(path, ["81-x", "82-y"], "test-2")
    assert after == {**before, "test-2": ["81-x", "82-y"]}
    # Labelling the batch again (a fixed question file) leaves every split as it was.
    path.write_text(json.dumps(after), encoding="utf-8")
    assert batch_split(path, ["82-y", "81-x"], "test-2") == after
    assert batch_split(tmp_path / "none.json", ["81-x"], "test-2") == {"test-2": ["81-x"]}
