"""Ingest into a real on-disk Chroma store with the real embedding model.

Covers the pipeline end to end: the bundled case goes in with its 19 paragraphs, re-ingesting it
computes no embedding and rewrites nothing, a changed file replaces its old version re-embedding
only what changed, and a write that fails part-way leaves the previous version answering.
Embedding calls are counted by a real subclass of SentenceEmbeddings that delegates to the shared
model, never by patching.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CASE_FILE, CASE_ID

from ingest.loaders import LoadError, load_text
from ingest.paragraphs import parse_case
from ingest.pipeline import ingest_file, ingest_paths
from vectorstore.embeddings import SentenceEmbeddings
from vectorstore.store import CaseLibrary, CaseNotFoundError, StoreError, open_client

pytestmark = pytest.mark.model

OLD_FACT = "Volkswagen would invest $700 million for a nearly 5% stake in XPeng."
NEW_FACT = "Volkswagen would invest $1.2 billion for a stake of about 10% in XPeng."


# Vectors computed once per test run: every test ingests the same texts again.
_VECTORS: dict[str, np.ndarray] = {}


class CountingEmbeddings(SentenceEmbeddings):
    """The shared real model, counting every text the library asks it to embed."""

    def __init__(self, inner: SentenceEmbeddings) -> None:
        super().__init__(inner.model_path)
        self.inner = inner
        self.texts: list[str] = []

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        new = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
        if new:
            _VECTORS.update(zip(new, self.inner.encode(new, progress), strict=True))
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        return np.stack([_VECTORS[t] for t in texts])

    @property
    def dimension(self) -> int:
        return self.inner.dimension


class BrokenEmbeddings(CountingEmbeddings):
    """Embeds nothing: the model fails as soon as it is asked for a vector."""

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.texts.extend(texts)
        raise RuntimeError("embedding model crashed")


class _FailingCollection:
    """A real Chroma collection whose final switch (the metadata update) fails."""

    def __init__(self, collection: Any) -> None:
        self._collection = collection

    def __getattr__(self, name: str) -> Any:
        return getattr(self._collection, name)

    def modify(self, *args: Any, **kwargs: Any) -> None:
        raise ConnectionError("the store went away mid-write")


class FailingSwitchClient:
    """A real Chroma client whose new collections cannot be marked complete."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def create_collection(self, *args: Any, **kwargs: Any) -> _FailingCollection:
        return _FailingCollection(self._client.create_collection(*args, **kwargs))


@pytest.fixture
def counting(embeddings: SentenceEmbeddings) -> CountingEmbeddings:
    """Embeddings that count what they embed, sharing the session's loaded model."""
    return CountingEmbeddings(embeddings)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """An empty folder for a fresh on-disk Chroma store."""
    return tmp_path / "store"


@pytest.fixture
def case_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of the bundled case in tmp, under a folder that keeps its case id."""
    target = tmp_path / "cases" / CASE_ID / "case.txt"
    target.parent.mkdir(parents=True)
    shutil.copyfile(CASE_FILE, target)
    yield target


def _case_collections(library: CaseLibrary, case_id: str = CASE_ID) -> list[Any]:
    return [c for c in library.client.list_collections()
            if (c.metadata or {}).get("case") == case_id]


def _stored(library: CaseLibrary) -> dict[str, Any]:
    collection = library.client.get_collection(library.info(CASE_ID).collection,
                                               embedding_function=None)
    return dict(collection.get(include=["documents", "metadatas"]))


def test_ingest_bundled_case(store_dir: Path, counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    outcomes = ingest_paths([CASE_FILE.parent.parent], library)
    assert [(o.case_id, o.error) for o in outcomes] == [(CASE_ID, "")]
    report = outcomes[0].report
    assert report is not None
    assert report.paragraphs == 19
    assert (report.embedded, report.reused, report.unchanged) == (report.records, 0, False)
    assert len(counting.texts) == report.records

    info = library.info(CASE_ID)
    assert info.paragraphs == 19
    assert info.title.startswith("The Unlikely Alliance")
    assert info.source == str(CASE_FILE)
    assert [c.case_id for c in library.cases()] == [CASE_ID]
    assert (store_dir / "chroma").is_dir()

    stored = _stored(library)
    assert len(stored["ids"]) == report.records
    assert len(set(stored["ids"])) == len(stored["ids"])
    text = load_text(CASE_FILE)
    parsed = parse_case(text, CASE_ID)
    passages = {}
    for rid, document, meta in zip(stored["ids"], stored["documents"], stored["metadatas"],
                                   strict=True):
        assert meta["case"] == CASE_ID
        assert rid.startswith(f"{CASE_ID}:{meta['paragraph']}")
        # Every record's offsets point back into the source file.
        assert text[meta["start"]:meta["end"]] == document
        paragraph = parsed.paragraphs[int(meta["paragraph"]) - 1]
        assert meta["section"] == paragraph.section
        assert meta["paragraph_text"] == paragraph.text
        if meta["kind"] == "passage":
            passages[int(meta["paragraph"])] = document
    assert sorted(passages) == list(range(1, 20))
    assert OLD_FACT in passages[12]


def test_reingest_unchanged_embeds_nothing(store_dir: Path, counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    first = ingest_file(CASE_FILE, library)
    before = library.info(CASE_ID)
    ids_before = sorted(_stored(library)["ids"])
    embedded_before = len(counting.texts)

    # A new library on the same folder, as a second `casebot ingest` process would open it.
    again = CaseLibrary(open_client(store_dir), counting)
    report = ingest_file(CASE_FILE, again)
    assert report.unchanged is True
    assert report.embedded == 0
    assert report.reused == report.records == first.records
    assert len(counting.texts) == embedded_before, "re-ingest computed embeddings"

    after = again.info(CASE_ID)
    assert (after.collection, after.fingerprint) == (before.collection, before.fingerprint)
    assert sorted(_stored(again)["ids"]) == ids_before
    collections = _case_collections(again)
    assert len(collections) == 1
    assert collections[0].count() == first.records


def test_changed_case_replaces_old_paragraphs(store_dir: Path, case_copy: Path,
                                              counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    first = ingest_file(case_copy, library)
    old = library.info(CASE_ID)
    library.load(CASE_ID)

    text = case_copy.read_text(encoding="utf-8")
    assert text.count(OLD_FACT) == 1
    case_copy.write_text(text.replace(OLD_FACT, NEW_FACT), encoding="utf-8")
    counting.texts.clear()

    report = ingest_file(case_copy, library)
    assert report.unchanged is False
    assert report.records == first.records
    # Only the edited paragraph's passage and the edited sentence are new text.
    assert report.embedded == 2
    assert sorted(counting.texts) == sorted([NEW_FACT, parse_case(
        case_copy.read_text(encoding="utf-8"), CASE_ID).paragraphs[11].text])
    assert report.reused == first.records - 2

    new = library.info(CASE_ID)
    assert new.fingerprint != old.fingerprint
    assert new.collection != old.collection
    names = [c.name for c in _case_collections(library)]
    assert names == [new.collection], "the old version was not removed"

    stored = _stored(library)
    documents = stored["documents"]
    assert not any(OLD_FACT in d for d in documents)
    assert any(d == NEW_FACT for d in documents)
    assert len(set(stored["ids"])) == len(stored["ids"]) == first.records

    loaded = library.load(CASE_ID)
    assert loaded.info.collection == new.collection
    section, paragraph = loaded.paragraphs[12]
    assert section == "Act II: The Shocking Announcement"
    assert NEW_FACT in paragraph and "$700 million" not in paragraph
    # Offsets after the edit (one character longer) still point into the new file.
    source = load_text(case_copy)
    for document, meta in zip(documents, stored["metadatas"], strict=True):
        assert source[meta["start"]:meta["end"]] == document


def test_changed_case_answers_the_new_text(store_dir: Path, case_copy: Path,
                                           counting: CountingEmbeddings) -> None:
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot

    library = CaseLibrary(open_client(store_dir), counting)
    ingest_file(case_copy, library)
    bot = CaseBot(library, ExtractiveAnswerer())
    assert "$700 million" in bot.ask("How much did Volkswagen invest in XPeng?").answer

    case_copy.write_text(case_copy.read_text(encoding="utf-8").replace(OLD_FACT, NEW_FACT),
                         encoding="utf-8")
    ingest_file(case_copy, library)
    answer = bot.ask("What stake did Volkswagen take in XPeng for its investment?")
    cited = {c.paragraph: c.text for c in answer.citations}
    assert 12 in cited
    assert NEW_FACT in cited[12]


def test_removed_paragraph_disappears(store_dir: Path, case_copy: Path,
                                      counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    first = ingest_file(case_copy, library)
    lines = case_copy.read_text(encoding="utf-8").splitlines(keepends=True)
    removed = lines.pop(-1)  # ¶19, the last paragraph
    case_copy.write_text("".join(lines), encoding="utf-8")
    counting.texts.clear()

    report = ingest_file(case_copy, library)
    assert report.paragraphs == 18
    assert report.embedded == 0, "removing a paragraph should not re-embed the others"
    assert report.records < first.records
    assert library.info(CASE_ID).paragraphs == 18
    documents = _stored(library)["documents"]
    assert all(removed.strip() not in d for d in documents)
    assert 19 not in library.load(CASE_ID).paragraphs


def test_failed_embedding_keeps_previous_version(store_dir: Path, case_copy: Path,
                                                 embeddings: SentenceEmbeddings) -> None:
    client = open_client(store_dir)
    library = CaseLibrary(client, CountingEmbeddings(embeddings))
    ingest_file(case_copy, library)
    old = library.info(CASE_ID)

    case_copy.write_text(case_copy.read_text(encoding="utf-8").replace(OLD_FACT, NEW_FACT),
                         encoding="utf-8")
    broken = CaseLibrary(client, BrokenEmbeddings(embeddings))
    with pytest.raises(StoreError, match="embedding model crashed"):
        ingest_file(case_copy, broken)

    fresh = CaseLibrary(open_client(store_dir), CountingEmbeddings(embeddings))
    assert fresh.info(CASE_ID) == old
    assert [c.name for c in _case_collections(fresh)] == [old.collection]
    assert OLD_FACT in fresh.load(CASE_ID).paragraphs[12][1]


def test_failed_write_midway_keeps_previous_version(store_dir: Path, case_copy: Path,
                                                    embeddings: SentenceEmbeddings) -> None:
    from bot.answerers.extractive import ExtractiveAnswerer
    from bot.rag.chain import CaseBot

    client = open_client(store_dir)
    library = CaseLibrary(client, CountingEmbeddings(embeddings))
    first = ingest_file(case_copy, library)
    old = library.info(CASE_ID)

    case_copy.write_text(case_copy.read_text(encoding="utf-8").replace(OLD_FACT, NEW_FACT),
                         encoding="utf-8")
    failing = CaseLibrary(FailingSwitchClient(client), CountingEmbeddings(embeddings))  # type: ignore[arg-type]
    with pytest.raises(StoreError, match="Writing case 'xpeng-volkswagen' failed"):
        ingest_file(case_copy, failing)

    # The half-written version is in the store, but readers never see it.
    assert len(_case_collections(library)) == 2
    fresh = CaseLibrary(open_client(store_dir), CountingEmbeddings(embeddings))
    assert fresh.info(CASE_ID) == old
    assert [c.case_id for c in fresh.cases()] == [CASE_ID]
    loaded = fresh.load(CASE_ID)
    assert loaded.info.collection == old.collection
    assert len(loaded.ids) == first.records
    answer = CaseBot(fresh, ExtractiveAnswerer()).ask("How much did Volkswagen invest in XPeng?")
    assert "$700 million" in answer.answer
    assert [c.paragraph for c in answer.citations][:1] == [12]

    # The next successful ingest completes the change and clears both older collections.
    counting = CountingEmbeddings(embeddings)
    retry = CaseLibrary(open_client(store_dir), counting)
    report = ingest_file(case_copy, retry)
    assert report.unchanged is False
    assert report.embedded == 0, "vectors of the failed attempt should be reused"
    assert [c.name for c in _case_collections(retry)] == [retry.info(CASE_ID).collection]
    assert NEW_FACT in retry.load(CASE_ID).paragraphs[12][1]


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty"),
    (b"\n  \n", "empty"),
    (b"Caf\xe9 Title\nSome text in Latin-1.\n", "not UTF-8"),
    (b"# Only A Heading\n\n## And Another\n", "no paragraphs"),
])
def test_bad_file_is_refused_and_nothing_is_lost(store_dir: Path, tmp_path: Path,
                                                 counting: CountingEmbeddings,
                                                 content: bytes, message: str) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    ingest_file(CASE_FILE, library)
    before = library.info(CASE_ID)

    bad = tmp_path / "cases" / CASE_ID / "case.txt"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(content)
    with pytest.raises(LoadError, match=message):
        ingest_file(bad, library)
    outcomes = ingest_paths([bad], library)
    assert outcomes[0].report is None and message in outcomes[0].error

    assert library.info(CASE_ID) == before
    assert OLD_FACT in library.load(CASE_ID, refresh=True).paragraphs[12][1]


def test_missing_file_is_refused(store_dir: Path, tmp_path: Path,
                                 counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    with pytest.raises(LoadError, match="no such file"):
        ingest_file(tmp_path / "nowhere" / "case.txt", library)
    assert library.cases() == []
    with pytest.raises(CaseNotFoundError):
        library.info(CASE_ID)
    assert counting.texts == []


def test_two_cases_live_side_by_side(store_dir: Path, tmp_path: Path,
                                     counting: CountingEmbeddings) -> None:
    library = CaseLibrary(open_client(store_dir), counting)
    other = tmp_path / "acme-rockets.md"
    other.write_text("# Acme Rockets\n\n## Background\n\nAcme builds rockets in Arizona.\n\n"
                     "- It sold a 10% stake for $5 million.\n", encoding="utf-8")
    outcomes = ingest_paths([CASE_FILE, other], library)
    assert [(o.case_id, o.error) for o in outcomes] == [(CASE_ID, ""), ("acme-rockets", "")]
    assert [c.case_id for c in library.cases()] == ["acme-rockets", CASE_ID]
    acme = library.load("acme-rockets")
    assert acme.info.title == "Acme Rockets"
    assert sorted(acme.paragraphs) == [1, 2, 3]
    assert acme.paragraphs[3] == ("Background", "It sold a 10% stake for $5 million.")
    assert library.info(CASE_ID).paragraphs == 19
