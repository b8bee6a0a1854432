"""ChromaDB storage of cases: one collection per case version, switched atomically.

Each ingest of a changed case writes a new collection, reusing the vectors of unchanged text,
and marks it complete in one metadata update; readers only ever see complete collections, so an
interrupted ingest leaves the previous version answering. Older versions are deleted afterwards.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.analysis import CaseText

if TYPE_CHECKING:
    from chromadb.api import ClientAPI
    from chromadb.api.models.Collection import Collection

    from vectorstore.embeddings import SentenceEmbeddings

SCHEMA = 1
_PREFIX = "casebot"
_BATCH = 256
LISTING_TTL_S = 1.0
CASE_ID = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,62}[a-z0-9])?$")

ProgressCallback = Callable[[int], None]
DEFAULT_CASE_CACHE = 32
# How long an ingest waits for another ingest of the same case (embedding a long case takes minutes).
LOCK_TIMEOUT_S = 1800.0


class StoreError(RuntimeError):
    """The vector store failed or could not be reached."""


class CaseNotFoundError(LookupError):
    """No ingested case has this id."""

    def __init__(self, case_id: str, known: Sequence[str]) -> None:
        self.case_id = case_id
        self.known = list(known)
        listed = ", ".join(self.known) or "none"
        super().__init__(f"No case '{case_id}'. Known cases: {listed}.")


@dataclass(frozen=True)
class Unit:
    """What a numbered paragraph is: `kind` paragraph, exhibit or note; `label` how answers name it
    (empty: "¶n"); `pages` its first and last page, for cases read from pages; `figure` marks an
    exhibit with no text to read (a chart, an image)."""

    kind: str = "paragraph"
    label: str = ""
    pages: tuple[int, int] | None = None
    figure: bool = False

    def metadata(self) -> dict[str, Any]:
        """As stored with each record (Chroma metadata holds no None: page 0 means none)."""
        first, last = self.pages or (0, 0)
        return {"paragraph_kind": self.kind, "label": self.label, "page_first": first,
                "page_last": last, "figure": self.figure}

    @classmethod
    def stored(cls, meta: dict[str, Any]) -> Unit:
        """The unit of a stored record; records written before units existed are paragraphs."""
        first, last = int(meta.get("page_first", 0)), int(meta.get("page_last", 0))
        return cls(str(meta.get("paragraph_kind", "paragraph")), str(meta.get("label", "")),
                   (first, last) if first else None, bool(meta.get("figure", False)))


@dataclass(frozen=True)
class Record:
    """One stored text: a passage (a paragraph or a window of one) or a sentence."""

    id: str
    kind: str
    text: str
    paragraph: int
    section: str
    start: int
    end: int
    paragraph_text: str
    unit: Unit = Unit()

    @property
    def hash(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()[:16]

    def metadata(self, case_id: str, title: str) -> dict[str, Any]:
        return {
            "case": case_id, "title": title, "kind": self.kind, "paragraph": self.paragraph,
            "section": self.section, "start": self.start, "end": self.end, "hash": self.hash,
            "paragraph_text": self.paragraph_text, **self.unit.metadata(),
        }


@dataclass(frozen=True)
class CaseInfo:
    """What the store knows about an ingested case."""

    case_id: str
    title: str
    paragraphs: int
    collection: str
    fingerprint: str
    source: str


@dataclass(frozen=True)
class WriteReport:
    """What one write of a case did."""

    case_id: str
    paragraphs: int
    records: int
    embedded: int
    reused: int
    unchanged: bool


def fingerprint(records: Sequence[Record], title: str) -> str:
    """A hash of everything stored for a case: equal fingerprints mean nothing to re-embed."""
    digest = hashlib.sha256(f"{SCHEMA}\0{title}".encode())
    for record in records:
        digest.update(f"\0{record.id}\0{record.hash}\0{record.section}\0{record.start}".encode())
        if record.unit != Unit():  # plain paragraphs keep the fingerprints they always had
            digest.update(repr(record.unit).encode())
    return digest.hexdigest()[:16]


def open_client(data_dir: Path | None = None, url: str | None = None) -> ClientAPI:
    """A Chroma client: an HTTP client for `url`, else an embedded store under `data_dir`."""
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if url:
        from urllib.parse import urlparse

        parsed = urlparse(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise StoreError(f"CASEBOT_CHROMA_URL must look like http://host:port, got {url!r}")
        port = parsed.port or (443 if parsed.scheme == "https" else 8000)
        try:
            return chromadb.HttpClient(
                host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
            )
        except Exception as error:  # chromadb raises bare ValueError/ConnectionError here
            raise StoreError(f"Cannot reach the Chroma server at {url}: {error}") from error
    if data_dir is None:
        raise StoreError("Either a data directory or a Chroma server URL is needed.")
    from filelock import FileLock

    # 0700: the data folder holds the records, the secret and the LTI signing keys.
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    # Opening a new store creates its SQLite schema; two processes doing that at once race
    # ("table collections already exists"), so the opening is serialised across processes.
    with FileLock(str(data_dir / "chroma.open.lock"), timeout=LOCK_TIMEOUT_S):
        return chromadb.PersistentClient(path=str(data_dir / "chroma"), settings=settings)


class LoadedCase(CaseText):
    """A case held in memory for answering: its stored records and vectors in reading order, its
    paragraphs, and the analysis of its text (vectorstore.analysis.CaseText)."""

    def __init__(self, info: CaseInfo, ids: list[str], texts: list[str],
                 metadatas: list[dict[str, Any]], vectors: np.ndarray) -> None:
        self.info = info
        order = sorted(range(len(ids)), key=lambda i: (int(metadatas[i]["paragraph"]),
                                                       str(metadatas[i]["kind"]),
                                                       int(metadatas[i]["start"])))
        super().__init__(info.title, [texts[i] for i in order], [metadatas[i] for i in order])
        self.ids = [ids[i] for i in order]
        self.vectors = vectors[order] if len(order) else vectors
        # Every vector of the case is here: retrieval searches them in memory, not through Chroma.
        self.passage_vectors = self.vectors[self.passage_rows]
        self.sentence_vectors = self.vectors[self.sentence_rows]
        self.paragraphs: dict[int, tuple[str, str]] = {}
        self.units: dict[int, Unit] = {}
        for meta in self.metadatas:
            self.paragraphs.setdefault(int(meta["paragraph"]),
                                       (str(meta["section"]), str(meta["paragraph_text"])))
            self.units.setdefault(int(meta["paragraph"]), Unit.stored(meta))

    @property
    def case_id(self) -> str:
        return self.info.case_id


class CaseLibrary:
    """All cases in one Chroma database, with the embedding model that wrote them."""

    def __init__(self, client: ClientAPI, embeddings: SentenceEmbeddings,
                 cache_size: int = DEFAULT_CASE_CACHE, lock_dir: Path | None = None) -> None:
        from cachetools import LRUCache

        self.client = client
        self.lock_dir = lock_dir
        self._case_locks: dict[str, threading.RLock] = {}
        self.embeddings = embeddings
        # Loaded cases (texts, vectors, word vectors: megabytes each) by id, least recently used
        # dropped first, so memory stays bounded however many cases are asked about.
        self._loaded: LRUCache[str, LoadedCase] = LRUCache(maxsize=cache_size)
        self._lock = threading.Lock()
        # The newest complete collection of each case, as last listed, and when (monotonic clock).
        self._listing: tuple[float, dict[str, tuple[float, Collection]]] | None = None

    def _collections(self) -> list[Collection]:
        try:
            return list(self.client.list_collections())
        except Exception as error:
            raise StoreError(f"The vector store did not answer: {error}") from error

    def _complete(self, max_age: float = LISTING_TTL_S) -> dict[str, tuple[float, Collection]]:
        """The newest complete collection of each case, listed at most `max_age` seconds ago.

        Listing every collection costs tens of milliseconds with hundreds of cases; a listing that
        is a moment old is reused (our own writes and any failed read invalidate it), so another
        process's new version is seen at most `max_age` seconds late, and always as a whole.
        """
        listing = self._listing
        if listing is not None and time.monotonic() - listing[0] <= max_age:
            return listing[1]
        listed_at = time.monotonic()
        newest: dict[str, tuple[float, Collection]] = {}
        for collection in self._collections():
            meta = collection.metadata or {}
            if not collection.name.startswith(_PREFIX) or not meta.get("complete"):
                continue
            case_id, stamp = str(meta["case"]), float(meta["ingested_at"])
            if case_id not in newest or newest[case_id][0] < stamp:
                newest[case_id] = (stamp, collection)
        self._listing = (listed_at, newest)
        return newest

    def _invalidate(self) -> None:
        """Forget the last listing: the next lookup lists the collections again."""
        self._listing = None

    @staticmethod
    def _info(collection: Collection) -> CaseInfo:
        meta = collection.metadata or {}
        return CaseInfo(str(meta["case"]), str(meta["title"]), int(meta["paragraphs"]),
                        collection.name, str(meta["fingerprint"]), str(meta.get("source", "")))

    def cases(self) -> list[CaseInfo]:
        """Every ingested case, sorted by id."""
        return sorted((self._info(c) for _, c in self._complete().values()),
                      key=lambda info: info.case_id)

    def info(self, case_id: str) -> CaseInfo:
        """The ingested case `case_id`, or CaseNotFoundError naming the known ones."""
        found = self._complete()
        if case_id not in found:
            raise CaseNotFoundError(case_id, sorted(found))
        return self._info(found[case_id][1])

    def loaded_ids(self) -> list[str]:
        """The ids of the cases held in memory, least recently used first."""
        with self._lock:
            return list(self._loaded.keys())

    def load(self, case_id: str, refresh: bool = False) -> LoadedCase:
        """The case in memory, loaded once per stored version.

        Answers are found in memory, so the store is asked once a question whether the version
        held is still stored: another process's new version replaces it (and drops it), and a
        store that went away is reported (StoreError) rather than hidden behind a stale copy.
        """
        with self._lock:
            cached = self._loaded.get(case_id)
        if cached is not None and not refresh and self._still_stored(cached):
            return cached
        if cached is not None or refresh:
            self._invalidate()
        info = self.info(case_id)
        if cached is not None and cached.info.collection == info.collection:
            return cached
        collection = self._collection(info.collection)
        try:
            data = collection.get(include=["documents", "metadatas", "embeddings"])
        except Exception as error:
            raise StoreError(f"Could not read case '{case_id}': {error}") from error
        vectors = np.asarray(data["embeddings"], dtype=np.float32)
        loaded = LoadedCase(info, list(data["ids"]), list(data["documents"] or []),
                            [dict(m) for m in data["metadatas"] or []], vectors)
        with self._lock:
            self._loaded[case_id] = loaded
        return loaded

    def _still_stored(self, case: LoadedCase) -> bool:
        """Whether the store still holds the version `case` was loaded from (one lookup)."""
        try:
            self.client.get_collection(case.info.collection, embedding_function=None)
        except Exception:
            return False  # replaced, or the store is down: the reload below says which
        return True

    def _collection(self, name: str) -> Collection:
        try:
            return self.client.get_collection(name, embedding_function=None)
        except Exception as error:
            self._invalidate()  # listed, then replaced by another process
            raise StoreError(f"Could not open collection {name}: {error}") from error

    def write_case(self, case_id: str, title: str, records: Sequence[Record], source: str = "",
                   progress: Callable[[int, int], None] | None = None) -> WriteReport:
        """Store a case's records as its new version; embeds only text not stored before."""
        with self.case_lock(case_id):
            return self._write_case(case_id, title, records, source, progress)

    def _write_case(self, case_id: str, title: str, records: Sequence[Record], source: str,
                    progress: Callable[[int, int], None] | None) -> WriteReport:
        # Another process may have written this case while we waited for the lock.
        self._invalidate()
        print_ = fingerprint(records, title)
        paragraphs = len({r.paragraph for r in records})
        current = self._complete().get(case_id)
        if current is not None and (current[1].metadata or {}).get("fingerprint") == print_:
            return WriteReport(case_id, paragraphs, len(records), 0, len(records), True)
        known = self._known_vectors(case_id)
        missing = [r for r in records if r.hash not in known]
        fresh: dict[str, np.ndarray] = {}
        for begin in range(0, len(missing), _BATCH):
            batch = missing[begin:begin + _BATCH]
            try:
                encoded = self.embeddings.encode([r.text for r in batch])
            except Exception as error:  # the model failing must not look like a crash of casebot
                raise StoreError(f"Embedding case '{case_id}' failed: {error}") from error
            for record, vector in zip(batch, encoded, strict=True):
                fresh[record.hash] = vector
            if progress is not None:
                progress(min(begin + _BATCH, len(missing)), len(missing))
        vectors = {**known, **fresh}
        name = f"{_PREFIX}-{case_id}-{print_}"
        meta = {"case": case_id, "title": title, "paragraphs": paragraphs,
                "fingerprint": print_, "source": source, "schema": SCHEMA, "complete": False,
                "ingested_at": 0.0}
        try:
            self._drop(name)
            collection = self.client.create_collection(
                name, embedding_function=None, metadata=meta,
                configuration={"hnsw": {"space": "cosine"}},
            )
            for begin in range(0, len(records), _BATCH):
                chunk = records[begin:begin + _BATCH]
                collection.add(
                    ids=[r.id for r in chunk], documents=[r.text for r in chunk],
                    metadatas=[r.metadata(case_id, title) for r in chunk],
                    embeddings=[vectors[r.hash].tolist() for r in chunk],
                )
            # The switch: one metadata update makes the new version the one readers see.
            collection.modify(metadata={**meta, "complete": True, "ingested_at": time.time()})
        except Exception as error:
            raise StoreError(f"Writing case '{case_id}' failed: {error}") from error
        finally:
            self._invalidate()
        self._drop_old_versions(case_id, keep=name)
        return WriteReport(case_id, paragraphs, len(records), len(missing),
                           len(records) - len(missing), False)

    def _known_vectors(self, case_id: str) -> dict[str, np.ndarray]:
        """Vectors already stored for any version of a case, by text hash."""
        vectors: dict[str, np.ndarray] = {}
        for collection in self._collections():
            if (collection.metadata or {}).get("case") != case_id:
                continue
            data = collection.get(include=["metadatas", "embeddings"])
            stored = data["embeddings"] if data["embeddings"] is not None else []
            for meta, vector in zip(data["metadatas"] or [], stored, strict=True):
                vectors[str(meta["hash"])] = np.asarray(vector, dtype=np.float32)
        return vectors

    def _drop(self, name: str) -> None:
        if any(c.name == name for c in self._collections()):
            self.client.delete_collection(name)

    def _drop_old_versions(self, case_id: str, keep: str | None) -> None:
        for collection in self._collections():
            meta = collection.metadata or {}
            if collection.name.startswith(_PREFIX) and meta.get("case") == case_id \
                    and collection.name != keep:
                self.client.delete_collection(collection.name)
        self._invalidate()
        with self._lock:
            self._loaded.pop(case_id, None)

    def remove_case(self, case_id: str) -> None:
        """Delete every stored version of a case."""
        self.info(case_id)  # unknown (or invalid) ids: CaseNotFoundError before any lock file
        with self.case_lock(case_id):
            self._drop_old_versions(case_id, keep=None)

    def case_lock(self, case_id: str) -> Any:
        """A lock held while a case is written or removed, so two ingests of one case (in any
        processes sharing the lock folder) run one after the other instead of deleting each
        other's collection. Without a lock folder it only serialises this process."""
        from filelock import FileLock

        if not CASE_ID.match(case_id):
            raise ValueError(f"Invalid case id {case_id!r}: use lower-case letters, digits and -._")
        if self.lock_dir is None:
            with self._lock:
                return self._case_locks.setdefault(case_id, threading.RLock())
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        return FileLock(str(self.lock_dir / f"{case_id}.lock"), timeout=LOCK_TIMEOUT_S)
