"""What the instructor dashboard shows for one case, computed from the records.

Questions are grouped by meaning with the same MiniLM vectors the retriever uses: greedy clustering
by cosine similarity (each question joins the most similar group whose first question it is close
to, else starts a new one), which needs no number of clusters and is fast for a few thousand
questions.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from bot.records.store import CHANNELS, RecordScope, RecordStore, StoredAnswer

# Two questions this close (cosine of unit MiniLM vectors) ask the same thing in other words.
SAME_MEANING = 0.72
MAX_CLUSTERED = 2000
DAYS_SHOWN = 30


class Encoder(Protocol):
    """Anything turning texts into unit vectors (vectorstore.embeddings.SentenceEmbeddings)."""

    def encode(self, texts: list[str], progress: bool = False) -> Any: ...


@dataclass(frozen=True)
class QuestionGroup:
    """Questions asking the same thing: the most frequent wording first, and how many there are."""

    label: str
    count: int
    examples: tuple[str, ...]
    abstained: int = 0


@dataclass(frozen=True)
class RatedDown:
    """An answer a student rated down, with their comment."""

    asked_at: datetime
    question: str
    answer: str
    comment: str
    channel: str


@dataclass(frozen=True)
class CaseInsight:
    """Everything the dashboard shows for one case."""

    case_id: str
    total: int
    abstained: int
    rated_up: int
    rated_down: int
    per_day: tuple[tuple[date, int], ...]
    groups: tuple[QuestionGroup, ...]
    declined: tuple[QuestionGroup, ...]
    down: tuple[RatedDown, ...]
    channels: tuple[tuple[str, int], ...]
    sessions: int = 0
    truncated: bool = field(default=False)


def daily_counts(records: list[StoredAnswer], days: int = DAYS_SHOWN,
                 today: date | None = None) -> tuple[tuple[date, int], ...]:
    """Questions per UTC day over the last `days` days, oldest first (days without any count 0)."""
    today = today or datetime.now(UTC).date()
    counts = Counter(r.record.asked_at.astimezone(UTC).date() for r in records)
    first = today - timedelta(days=days - 1)
    return tuple((first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
                 for i in range(days))


def group_questions(questions: list[tuple[str, bool]], encoder: Encoder | None,
                    threshold: float = SAME_MEANING) -> list[QuestionGroup]:
    """(question, abstained) pairs grouped by meaning, biggest group first."""
    if not questions:
        return []
    # Identical wordings (ignoring case and spacing) are one item with a count.
    wordings: dict[str, list[tuple[str, bool]]] = {}
    for text, abstained in questions:
        wordings.setdefault(" ".join(text.lower().split()), []).append((text, abstained))
    keys = list(wordings)
    members: list[list[int]] = []
    if encoder is None:
        members = [[i] for i in range(len(keys))]
    else:
        import numpy as np

        vectors = np.asarray(encoder.encode([wordings[k][0][0] for k in keys]), dtype=np.float32)
        # Most frequent wordings first, so they become the groups' heads.
        order = sorted(range(len(keys)), key=lambda i: -len(wordings[keys[i]]))
        heads: list[int] = []
        for i in order:
            if heads:
                sims = vectors[heads] @ vectors[i]
                best = int(np.argmax(sims))
                if float(sims[best]) >= threshold:
                    members[best].append(i)
                    continue
            heads.append(i)
            members.append([i])
    groups = []
    for indices in members:
        texts = [t for i in indices for t in wordings[keys[i]]]
        ranked = sorted(indices, key=lambda i: -len(wordings[keys[i]]))
        groups.append(QuestionGroup(
            label=wordings[keys[ranked[0]]][0][0], count=len(texts),
            examples=tuple(wordings[keys[i]][0][0] for i in ranked[1:4]),
            abstained=sum(a for _, a in texts)))
    return sorted(groups, key=lambda g: (-g.count, g.label))


def case_insight(store: RecordStore, case_id: str, encoder: Encoder | None,
                 scope: RecordScope | None = None, days: int = DAYS_SHOWN,
                 max_questions: int = MAX_CLUSTERED) -> CaseInsight:
    """The dashboard's numbers for one case (the newest `max_questions` are grouped), only of one
    course's rows with a `scope`."""
    records = store.answers(case_id, limit=max_questions, scope=scope)
    total = store.count(case_id, scope=scope)
    asked = [(r.record.question, r.record.abstained) for r in records]
    declined_questions = [(q, True) for q, a in asked if a]
    channels = Counter(r.record.channel for r in records)
    down = [RatedDown(r.record.asked_at, r.record.question, r.record.answer, r.comment, r.record.channel)
            for r in records if r.rating == "down"]
    return CaseInsight(
        case_id=case_id, total=total, abstained=sum(a for _, a in asked),
        rated_up=sum(r.rating == "up" for r in records),
        rated_down=len(down),
        per_day=daily_counts(records, days),
        groups=tuple(group_questions(asked, encoder)[:15]),
        declined=tuple(group_questions(declined_questions, encoder)[:15]),
        down=tuple(sorted(down, key=lambda d: d.asked_at, reverse=True)[:30]),
        channels=tuple((name, channels.get(name, 0)) for name in CHANNELS),
        sessions=len({r.record.session_id for r in records}),
        truncated=total > len(records),
    )
