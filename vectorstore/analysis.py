"""What a case's text says, worked out once per stored version: its sentences in reading order,
their terms and lexical indexes, the case's vocabulary and names, which sentence leans on which,
and its words' nearest neighbours in meaning.

Retrieval (vectorstore.hybrid) and the answerers read these; the storage layer (vectorstore.store)
only hands the stored records over. It stays in `vectorstore` because hybrid search, which the
design keeps here and which may not import `bot`, needs the sentence links and nearest words.
"""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from vectorstore.lexical import BM25
from vectorstore.text import STOPWORDS, content_terms, continues_previous, tokens

if TYPE_CHECKING:
    from vectorstore.embeddings import SentenceEmbeddings

# Names in at least this share of a case's sentences are its subject, not a question's topic.
SUBJECT_SHARE = 0.1
# Words at least this close in meaning count as the same topic ("money" and "financially").
NEAR_WORD_SIMILARITY = 0.65
_NAME = re.compile(r"(?<=[a-z,;:] )[A-Z][A-Za-z]+|^[A-Z][a-z]*[A-Z][A-Za-z]*")
NAME_RUN = re.compile(r"\b[A-Z][\w'’-]*(?:\s+[A-Z][\w'’-]*){0,3}")


class CaseText:
    """The analysis of a case's records (`texts` with their stored `metadatas`, in reading order:
    paragraph, kind, start), with `title` the case's title."""

    def __init__(self, title: str, texts: list[str], metadatas: list[dict[str, Any]]) -> None:
        self.texts = texts
        self.metadatas = metadatas
        self.sentence_rows = [i for i, m in enumerate(metadatas) if m["kind"] == "sentence"]
        self.passage_rows = [i for i, m in enumerate(metadatas) if m["kind"] == "passage"]
        self.terms = [frozenset(content_terms(text)) for text in texts]
        self.sentence_index = BM25([content_terms(texts[i]) for i in self.sentence_rows])
        self.passage_index = BM25([content_terms(texts[i]) for i in self.passage_rows])
        self._reading = {row: position for position, row in enumerate(self.sentence_rows)}
        self._sentences: dict[int, list[int]] = {}
        for row in self.sentence_rows:
            self._sentences.setdefault(self.paragraph_of(row), []).append(row)
        # The terms of each paragraph, and in how many paragraphs each term occurs.
        self.paragraph_terms = {number: frozenset().union(*(self.terms[row] for row in rows))
                                for number, rows in self._sentences.items()}
        self._paragraph_counts = Counter(term for terms in self.paragraph_terms.values()
                                         for term in terms)
        headings = " ".join({str(m["section"]) for m in metadatas} | {title})
        self.vocabulary = frozenset(term for i in self.sentence_rows for term in self.terms[i]) \
            | frozenset(content_terms(headings))
        names = Counter(term for i in self.sentence_rows
                        for term in set(content_terms(" ".join(_NAME.findall(texts[i])))))
        self.subject_names = frozenset(term for term, n in names.items()
                                       if n >= max(2, SUBJECT_SHARE * len(self.sentence_rows)))
        # Every run of capitalised words as written ("New York City") and each of its words: what a
        # question's abbreviation or misspelling of a name is checked against.
        runs = {run for i in self.sentence_rows for run in NAME_RUN.findall(texts[i])}
        self.name_runs = frozenset(runs | {word for run in runs for word in run.split()})
        self.words = sorted({word for i in self.sentence_rows for word in tokens(texts[i])
                             if word.isalpha() and word not in STOPWORDS})
        self._word_set = frozenset(self.words)
        # The sentence each one leans on ("They said ..." on the one before it), found once.
        self._leans_on = {row: previous for row in self.sentence_rows
                          if (previous := self.previous_sentence(row)) is not None
                          and continues_previous(texts[row])}
        self._word_vectors: np.ndarray | None = None
        self._word_lock = threading.Lock()

    def word_vectors(self, embeddings: SentenceEmbeddings) -> np.ndarray:
        """Vectors of the case's words, computed on first use (about a second for a case)."""
        with self._word_lock:
            if self._word_vectors is None:
                self._word_vectors = embeddings.encode(self.words)
            return self._word_vectors

    def nearest_word(self, word: str, embeddings: SentenceEmbeddings) -> tuple[str, float]:
        """The word of the case closest in meaning to `word`, with its cosine similarity."""
        return self.nearest_words([word], embeddings)[0]

    def nearest_words(self, words: Sequence[str], embeddings: SentenceEmbeddings
                      ) -> list[tuple[str, float]]:
        """For each of `words`, the case's word closest in meaning to it, with its cosine
        similarity; ("", -1.0) for a case without words.

        A word the case uses is its own nearest word: only the others are encoded (in one batch)
        and compared with the case's word vectors, which a cold process then need not compute
        for a question written in the case's own words.
        """
        if not self.words:
            return [("", -1.0)] * len(words)
        unknown = [word for word in dict.fromkeys(words) if word not in self._word_set]
        nearest = {word: (word, 1.0) for word in words if word in self._word_set}
        if unknown:
            vectors = self.word_vectors(embeddings)
            for word, query in zip(unknown, embeddings.encode_queries(unknown), strict=True):
                sims = vectors @ query
                best = int(np.argmax(sims))
                nearest[word] = (self.words[best], float(sims[best]))
        return [nearest[word] for word in words]

    def paragraph_share(self, term: str) -> float:
        """The share of the case's paragraphs that mention `term` (a stemmed content term)."""
        return self._paragraph_counts[term] / max(len(self.paragraph_terms), 1)

    def sentences_of(self, paragraph: int) -> list[int]:
        """Rows of the sentences of one paragraph, in reading order."""
        return self._sentences.get(paragraph, [])

    def paragraph_of(self, row: int) -> int:
        """The number of the paragraph a record belongs to."""
        return int(self.metadatas[row]["paragraph"])

    def leans_on(self, row: int) -> int | None:
        """The sentence that sentence `row` only makes sense after ("They said ..." after
        "The buyers were asked ..."), within its section; None when it stands on its own."""
        return self._leans_on.get(row)

    def previous_sentence(self, row: int) -> int | None:
        """The row of the sentence read just before sentence `row`, within its section."""
        position = self._reading.get(row, 0)
        if position == 0:
            return None
        previous = self.sentence_rows[position - 1]
        same = self.metadatas[previous]["section"] == self.metadatas[row]["section"]
        return previous if same else None

    def next_sentence(self, row: int) -> int | None:
        """The row of the sentence read just after sentence `row`, within its section."""
        position = self._reading.get(row, len(self.sentence_rows)) + 1
        if position >= len(self.sentence_rows):
            return None
        following = self.sentence_rows[position]
        return following if self.previous_sentence(following) == row else None

    def continued_by(self, paragraph: int) -> int | None:
        """The next paragraph when it only makes sense after this one ("Second, it ..."), else None."""
        following = self.sentences_of(paragraph + 1)
        return paragraph + 1 if following and self.leans_on(following[0]) is not None else None
