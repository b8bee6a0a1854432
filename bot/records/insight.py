"""What the instructor dashboard shows for one case, computed from the records.

Questions are grouped by meaning with the same MiniLM vectors the retriever uses: greedy clustering
by cosine similarity (each question joins the most similar group whose first question it is close
to, else starts a new one), which needs no number of clusters and is fast for a few thousand
questions. A group is labelled by its most asked wording (among equals, the most central one) and
by the content words most of its questions share, so "3 questions about share price" reads at a
glance. Per paragraph: how many answers cited it, and the questions they answered.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol

from bot.lang.english import expected_type
from bot.records.models import RecordScope, StoredAnswer
from bot.records.repository import CHANNELS, RecordStore
from vectorstore.text import STOPWORDS, stem, tokens

# Two questions this close (cosine of unit MiniLM vectors) ask the same thing in other words.
SAME_MEANING = 0.72
MAX_CLUSTERED = 2000
DAYS_SHOWN = 30
# A word shared by more than this share of all the questions of a case (its companies' names)
# tells one group from another no better than the label does: not a topic word.
COMMON_SHARE = 0.5
MAX_TOPIC_WORDS = 3
# Wordings listed under a paragraph that answers cited (the count covers them all).
QUESTIONS_PER_PARAGRAPH = 20


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
    # The content words most of its questions share, as the label spells them ("share price");
    # empty for a single wording or when they share none.
    topic: str = ""


@dataclass(frozen=True)
class ParagraphUse:
    """How many answers cited one paragraph, and the questions they answered (most asked first)."""

    paragraph: int
    count: int
    questions: tuple[str, ...]


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
    cited: tuple[ParagraphUse, ...] = ()
    # Answers given as hints (an assignment question, or guide mode) among those read.
    guided: int = 0


def daily_counts(records: list[StoredAnswer], days: int = DAYS_SHOWN,
                 today: date | None = None) -> tuple[tuple[date, int], ...]:
    """Questions per UTC day over the last `days` days, oldest first (days without any count 0)."""
    today = today or datetime.now(UTC).date()
    counts = Counter(r.record.asked_at.astimezone(UTC).date() for r in records)
    first = today - timedelta(days=days - 1)
    return tuple((first + timedelta(days=i), counts.get(first + timedelta(days=i), 0))
                 for i in range(days))


def _key(text: str) -> str:
    return " ".join(text.lower().split())


def _content_words(text: str) -> dict[str, str]:
    """A question's content words: stem -> the word as first written."""
    words: dict[str, str] = {}
    for word in tokens(text):
        if word not in STOPWORDS and len(word) > 1:
            words.setdefault(stem(word), word)
    return words


def cluster_by_meaning(vectors: Any, counts: Any, kinds: Sequence[str | None],
                       threshold: float = SAME_MEANING) -> list[list[int]]:
    """Greedy clustering of unit vectors: the most frequent (by `counts`) first, each joins the
    group whose head is most similar when that reaches `threshold`, else heads a new group.
    A head asking for another kind of answer (`kinds`: a date, a figure, a name, a reason... as
    bot.lang.english.expected_type reads it; None when the wording does not say) cannot take a
    question: "When did they invest?" and "How much did they invest?" are close in wording (cosine
    0.95), not in what they ask.
    The groups as lists of row indices, head first."""
    import numpy as np

    order = sorted(range(len(vectors)), key=lambda i: -counts[i])
    heads: list[int] = []
    members: list[list[int]] = []
    for i in order:
        if heads:
            sims = np.where([kinds[h] == kinds[i] or None in (kinds[h], kinds[i]) for h in heads],
                            vectors[heads] @ vectors[i], -1.0)
            best = int(np.argmax(sims))
            if float(sims[best]) >= threshold:
                members[best].append(i)
                continue
        heads.append(i)
        members.append([i])
    return members


def group_questions(questions: list[tuple[str, bool]], encoder: Encoder | None,
                    threshold: float = SAME_MEANING, asked: list[str] | None = None
                    ) -> list[QuestionGroup]:
    """(question, abstained) pairs grouped by meaning, biggest group first. A word used by most of
    `asked` (all the case's questions; default these) is not taken for a group's topic."""
    if not questions:
        return []
    # Identical wordings (ignoring case and spacing) are one item with a count.
    wordings: dict[str, list[tuple[str, bool]]] = {}
    for text, abstained in questions:
        wordings.setdefault(_key(text), []).append((text, abstained))
    keys = list(wordings)
    members: list[list[int]] = [[i] for i in range(len(keys))]
    centrality = [0.0] * len(keys)
    if encoder is not None:
        import numpy as np

        vectors = np.asarray(encoder.encode([wordings[k][0][0] for k in keys]), dtype=np.float32)
        counts = np.array([len(wordings[k]) for k in keys], dtype=np.float32)
        members = cluster_by_meaning(vectors, counts, [expected_type(wordings[k][0][0]) for k in keys],
                                     threshold)
        for indices in members:
            # Centrality: the mean similarity to the group's questions, each counted as often as
            # it was asked.
            sims = vectors[indices] @ vectors[indices].T
            for row, i in enumerate(indices):
                centrality[i] = float(sims[row] @ counts[indices])
    # How many of the case's wordings use each word: a word most of them share is no topic.
    background = keys if asked is None else list(dict.fromkeys(_key(q) for q in asked))
    everywhere = Counter(w for key in background for w in _content_words(key))
    groups = []
    for indices in members:
        texts = [t for i in indices for t in wordings[keys[i]]]
        ranked = sorted(indices, key=lambda i: (-len(wordings[keys[i]]), -centrality[i]))
        label = wordings[keys[ranked[0]]][0][0]
        groups.append(QuestionGroup(
            label=label, count=len(texts),
            examples=tuple(wordings[keys[i]][0][0] for i in ranked[1:4]),
            abstained=sum(a for _, a in texts),
            topic=_topic(label, [keys[i] for i in indices], everywhere, len(background))))
    return sorted(groups, key=lambda g: (-g.count, g.label))


def _topic(label: str, members: list[str], everywhere: Counter[str], total: int) -> str:
    """The content words most of a group's wordings share (and most wordings of the case do not),
    at most MAX_TOPIC_WORDS of the most shared, in the label's order and spelling; "" for a group
    of one wording."""
    if len(members) < 2:
        return ""
    shared = Counter(w for member in members for w in _content_words(member))
    spelled = _content_words(label)
    kept = [term for term in spelled if 2 * shared[term] > len(members)
            and everywhere[term] <= COMMON_SHARE * total]
    most = set(sorted(kept, key=lambda term: -shared[term])[:MAX_TOPIC_WORDS])
    return " ".join(spelled[term] for term in kept if term in most)


def paragraph_use(records: list[StoredAnswer]) -> tuple[ParagraphUse, ...]:
    """Per cited paragraph (in paragraph order): the answers citing it, and their questions (each
    wording once, most asked first)."""
    asked: dict[int, Counter[str]] = {}
    spelled: dict[str, str] = {}
    for stored in records:
        question = stored.record.question
        spelled.setdefault(_key(question), question)
        for paragraph in dict.fromkeys(stored.record.cited_paragraphs):
            asked.setdefault(paragraph, Counter())[_key(question)] += 1
    return tuple(ParagraphUse(paragraph, sum(counts.values()),
                              tuple(spelled[k] for k, _ in counts.most_common(QUESTIONS_PER_PARAGRAPH)))
                 for paragraph, counts in sorted(asked.items()))


def case_insight(store: RecordStore, case_id: str, encoder: Encoder | None,
                 scope: RecordScope | None = None, days: int = DAYS_SHOWN,
                 max_questions: int = MAX_CLUSTERED) -> CaseInsight:
    """The dashboard's numbers for one case, or only its records within `scope` (one platform and
    course); the newest `max_questions` are grouped."""
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
        declined=tuple(group_questions(declined_questions, encoder,
                                       asked=[q for q, _ in asked])[:15]),
        down=tuple(sorted(down, key=lambda d: d.asked_at, reverse=True)[:30]),
        channels=tuple((name, channels.get(name, 0)) for name in CHANNELS),
        sessions=len({r.record.session_id for r in records}),
        truncated=total > len(records),
        cited=paragraph_use(records),
        guided=sum(r.record.guided for r in records),
    )
