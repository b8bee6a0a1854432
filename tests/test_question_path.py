"""The question path: a question is prepared once (checked, its case loaded), retrieval of a loaded
case runs in memory, a case's own word is its own nearest word, and an answer built whole is
streamed as one piece."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bot.answer import Answer, Turn
from bot.errors import QuestionError
from bot.rag.chain import CaseBot
from bot.settings import BUNDLED_CASES
from vectorstore.embeddings import SentenceEmbeddings
from vectorstore.hybrid import hybrid_search
from vectorstore.store import CaseLibrary

pytestmark = pytest.mark.model

CASE_ID = "xpeng-volkswagen"
QUESTION = "How much did Volkswagen invest in XPeng?"


def test_retrieval_of_a_loaded_case_reads_nothing_from_chroma(
        tmp_path: Path, embeddings: SentenceEmbeddings) -> None:
    from ingest.pipeline import ingest_paths
    from vectorstore.store import open_client

    library = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    assert all(o.report is not None for o in ingest_paths([BUNDLED_CASES / CASE_ID], library))
    case = library.load(CASE_ID)
    vector = embeddings.encode_query(QUESTION)
    before = hybrid_search(embeddings, case, QUESTION, vector)
    # The store of record goes away under the loaded case: retrieval must not need it.
    library.client.delete_collection(case.info.collection)
    after = hybrid_search(embeddings, case, QUESTION, vector)
    assert after == before
    assert 12 in [hit.paragraph for hit in after[:3]]  # "... invest $700 million ..." is ¶12


def test_the_dense_ranking_is_chromas_own(library: CaseLibrary, embeddings: SentenceEmbeddings) -> None:
    """In memory, the passages nearest the query come in the order Chroma's index gives them."""
    case = library.load(CASE_ID)
    vector = embeddings.encode_query(QUESTION)
    collection = library.client.get_collection(case.info.collection, embedding_function=None)
    found = collection.query(query_embeddings=[vector.tolist()], n_results=10,
                             where={"kind": "passage"}, include=["distances"])
    sims = case.passage_vectors @ vector
    mine = [case.ids[case.passage_rows[i]] for i in np.argsort(-sims, kind="stable")[:10]]
    assert mine == found["ids"][0]
    assert np.allclose(np.sort(sims)[::-1][:10], 1 - np.array(found["distances"][0]), atol=1e-5)


def test_a_word_of_the_case_is_its_own_nearest_word(library: CaseLibrary,
                                                    embeddings: SentenceEmbeddings) -> None:
    case = library.load(CASE_ID)
    assert {"invest", "volkswagen"} <= set(case.words)
    assert case.nearest_words(["invest", "volkswagen"], embeddings) == [("invest", 1.0),
                                                                        ("volkswagen", 1.0)]
    # A word the case never uses is compared with every word of the case.
    near, similarity = case.nearest_word("carmaker", embeddings)
    sims = case.word_vectors(embeddings) @ embeddings.encode_query("carmaker")
    assert (near, similarity) == (case.words[int(np.argmax(sims))], pytest.approx(float(sims.max())))
    assert near != "carmaker"


def test_a_prepared_question_is_checked_once_and_answered(casebot: CaseBot) -> None:
    asked = casebot.prepare(f"  {QUESTION}\u200b ", (Turn("user", "Who is XPeng?"),))
    assert asked.question == QUESTION  # cleaned once, here
    assert asked.case.case_id == CASE_ID  # the default case, loaded once
    answer = casebot.answer(asked)
    assert "$700 million" in answer.answer and answer.latency_ms > 0
    with pytest.raises(QuestionError):
        casebot.prepare(" \u200b ")


def test_an_extractive_answer_is_streamed_as_one_piece(casebot: CaseBot) -> None:
    pieces = list(casebot.stream(QUESTION))
    assert len(pieces) == 2
    text, final = pieces
    assert isinstance(final, Answer) and text == final.answer


def test_a_version_written_by_another_process_replaces_the_one_held(
        tmp_path: Path, embeddings: SentenceEmbeddings) -> None:
    """Answers come from memory, yet a case re-ingested elsewhere is answered in its new words."""
    from ingest.pipeline import ingest_paths
    from vectorstore.store import open_client

    case_file = tmp_path / "cases" / "ferry.md"
    case_file.parent.mkdir()
    case_file.write_text("# Ferry\n\nThe ferry company ordered two ships in 2021.\n", encoding="utf-8")
    serving = CaseLibrary(open_client(tmp_path / "data"), embeddings)
    ingest_paths([case_file], serving)
    held = serving.load("ferry")
    assert serving.load("ferry") is held  # the same version: nothing read again

    case_file.write_text("# Ferry\n\nThe ferry company ordered three ships in 2022.\n", encoding="utf-8")
    elsewhere = CaseLibrary(open_client(tmp_path / "data"), embeddings)  # another process's library
    ingest_paths([case_file], elsewhere)
    fresh = serving.load("ferry")
    assert fresh.info.collection != held.info.collection
    assert any("three ships" in text for text in fresh.texts)
