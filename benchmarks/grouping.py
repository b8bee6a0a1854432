"""Grouping benchmark (not a test): the cosine threshold at which the instructor dashboard groups
students' questions by meaning (bot/records/insight.py, SAME_MEANING).

Run with `.venv/bin/python benchmarks/grouping.py`. Data: the training cases' guide questions in
benchmarks/data/guide/train/<case>/ (written for casebot by writers who saw one case and no code):
each assignment question with its ten paraphrases is one group of eleven questions asking the same
thing; each of the 20 other questions is a group of its own. Each case's questions are grouped
alone (as the dashboard groups one case's), and every pair of questions is scored: put together
rightly or wrongly, kept apart rightly or wrongly (pairwise precision, recall and F1, pooled over
the cases), at each threshold, and the share of the pairs of different questions that were put
together (what an instructor would misread as one topic).
"""

from __future__ import annotations

import json
import sys
from itertools import combinations
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.settings import quiet_libraries  # noqa: E402

quiet_libraries()

TRAIN = REPO / "benchmarks" / "data" / "guide" / "train"
THRESHOLDS = [round(0.50 + 0.02 * i, 2) for i in range(19)]


def case_questions(folder: Path) -> list[tuple[str, str]]:
    """(question, its true group) for one case: an assignment question and its paraphrases share
    a group; every other question is alone."""
    assignment = json.loads((folder / "assignment.json").read_text(encoding="utf-8"))
    items = [(q, f"a{i + 1}") for i, q in enumerate(assignment)]
    for n, line in enumerate((folder / "questions.jsonl").read_text(encoding="utf-8").splitlines()):
        if line.strip():
            row = json.loads(line)
            group = row.get("assignment")
            items.append((row["question"], f"a{group}" if group else f"other{n}"))
    return items


def main() -> int:
    import numpy as np

    from bot.lang.english import expected_type
    from bot.records.insight import SAME_MEANING, cluster_by_meaning
    from vectorstore.embeddings import SentenceEmbeddings

    embeddings = SentenceEmbeddings()
    cases = [case_questions(folder) for folder in sorted(TRAIN.iterdir()) if folder.is_dir()]
    vectors = [np.asarray(embeddings.encode([q for q, _ in items]), dtype=np.float32) for items in cases]
    kinds = [[expected_type(q) for q, _ in items] for items in cases]
    print(f"{len(cases)} cases, {sum(len(c) for c in cases)} questions; shipped SAME_MEANING = "
          f"{SAME_MEANING}\n")
    print("| threshold | pairwise precision | pairwise recall | F1 | pairs of different questions "
          "put together | groups per case |")
    print("|---|---|---|---|---|---|")
    for threshold in THRESHOLDS:
        together_right = together = same = pairs = 0
        groups = 0
        for items, found, asked in zip(cases, vectors, kinds, strict=True):
            clusters = cluster_by_meaning(found, np.ones(len(items)), asked, threshold)
            groups += len(clusters)
            predicted = {i: n for n, members in enumerate(clusters) for i in members}
            for one, other in combinations(range(len(items)), 2):
                ours = predicted[one] == predicted[other]
                theirs = items[one][1] == items[other][1]
                together += ours
                pairs += 1
                same += theirs
                together_right += ours and theirs
        precision = together_right / together if together else 1.0
        recall = together_right / same if same else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        wrong = (together - together_right) / (pairs - same)
        print(f"| {threshold:.2f} | {precision:.3f} | {recall:.3f} | {f1:.3f} | {wrong:.4f} | "
              f"{groups / len(cases):.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
