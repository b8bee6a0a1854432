"""The sentence reader: the shipped cross-encoder the extractive answerer reorders its best
candidates with, its weights on disk, its training step, and how the answerer uses it.

Everything here runs the real model: the shipped weights, or the bundled MiniLM that training
starts from.
"""

from __future__ import annotations

import json
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from bot.answerers.extractive import ExtractiveAnswerer
from bot.answerers.reader import SHIPPED_READER, SHIPPED_WEIGHTS, SentenceReader

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from training.train_reader import Ranked, fresh_reader, listwise_loss, train  # noqa: E402

pytestmark = pytest.mark.model

SENTENCES = (
    "The harbour bridge was opened to traffic in March 1932 after eight years of work.",
    "The river below it is more than a kilometre wide at high tide.",
    "Ferries carried most commuters across the harbour before then.",
    "The city council meets in the town hall on Thursdays.",
)


def test_the_shipped_weights_are_in_the_repository_with_their_card() -> None:
    assert SHIPPED_WEIGHTS.is_file()
    assert SHIPPED_WEIGHTS.stat().st_size <= 50 * 1024 * 1024  # ships in the repository
    card = (SHIPPED_WEIGHTS.parent / "README.md").read_text(encoding="utf-8")
    assert "SQuAD" in card and "CC BY-SA 4.0" in card
    record = json.loads((SHIPPED_WEIGHTS.parent / "training.json").read_text(encoding="utf-8"))
    assert record["steps"] > 0 and len(record["articles"]) == 10


@pytest.mark.parametrize(("question", "answer"), [
    ("When did the bridge open?", 0),
    ("How wide is the river?", 1),
    ("How did people cross before the bridge?", 2),
    ("Where does the council meet?", 3),
])
def test_the_shipped_reader_puts_the_answering_sentence_first(question: str, answer: int) -> None:
    scores = SHIPPED_READER.scores(question, SENTENCES)
    assert scores.shape == (len(SENTENCES),)
    assert int(np.argmax(scores)) == answer, scores


def test_threads_reading_at_once_get_what_one_thread_gets() -> None:
    alone = [SHIPPED_READER.scores(q, SENTENCES) for q in ("When did the bridge open?", "How wide?")]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda q: SHIPPED_READER.scores(q, SENTENCES),
                                 ["When did the bridge open?", "How wide?"] * 4))
    for index, scores in enumerate(together):
        np.testing.assert_allclose(scores, alone[index % 2], rtol=1e-4, atol=1e-4)


def test_nothing_to_read_gives_no_scores() -> None:
    assert SHIPPED_READER.scores("When did the bridge open?", []).shape == (0,)


def test_missing_weights_say_which_file_and_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"missing: .*nowhere\.safetensors.*make train"):
        SentenceReader(tmp_path / "nowhere.safetensors").scores("When?", ["Then."])


def test_saved_weights_load_to_the_same_scores_in_half_precision(tmp_path: Path) -> None:
    fresh = fresh_reader(seed=7)
    path = tmp_path / "reader" / "model.safetensors"
    fresh.save(path)
    assert path.stat().st_size < 50 * 1024 * 1024
    reloaded = SentenceReader(path)
    np.testing.assert_allclose(reloaded.scores("When did the bridge open?", SENTENCES),
                               fresh.scores("When did the bridge open?", SENTENCES), atol=0.02)


def test_a_training_step_moves_the_answer_sentence_up() -> None:
    import torch

    ranked = Ranked("How wide is the river?", SENTENCES, (0.5, 0.4, 0.3, 0.2),
                    (False, True, False, False))
    reader = fresh_reader(seed=3)
    with torch.no_grad():
        before = float(listwise_loss(reader, ranked))
    assert train(reader, [ranked, ranked], epochs=4, seed=3) == 4
    with torch.no_grad():
        after = float(listwise_loss(reader, ranked))
    assert after < before


def test_the_reader_only_reorders_the_best_candidates(casebot) -> None:  # type: ignore[no-untyped-def]
    """Reordered or not, the best eight are the same sentences and the scores in rank order are the
    hand-set ones: the answerer's cut-offs see the same gaps; what follows the eighth is untouched."""
    answerer = ExtractiveAnswerer(reader=SHIPPED_READER)
    reordered = 0
    for question in ("What did the partnership give the younger firm?",
                     "Why did the German carmaker need a partner in China?",
                     "How did buyers' expectations change?"):
        evidence = casebot.evidence(question, (), "")
        hand = answerer.hand_scored(evidence)
        read = answerer.score(evidence)
        assert [s.score for s in read] == [s.score for s in hand]
        assert {s.row for s in read[:8]} == {s.row for s in hand[:8]}
        assert [s.row for s in read[8:]] == [s.row for s in hand[8:]]
        reordered += [s.row for s in read[:8]] != [s.row for s in hand[:8]]
    assert reordered > 0  # the reader does change the order somewhere


def test_without_a_reader_the_hand_set_order_stands(casebot) -> None:  # type: ignore[no-untyped-def]
    evidence = casebot.evidence("Why did the German carmaker need a partner in China?", (), "")
    plain = ExtractiveAnswerer(reader=None)
    assert [s.row for s in plain.score(evidence)] == [s.row for s in plain.hand_scored(evidence)]


def test_the_setting_turns_the_reader_on_and_off_for_the_answerer_and_the_llm_fallback() -> None:
    from bot.factory import make_answerer
    from bot.settings import Settings

    assert make_answerer(Settings()).reader is None  # type: ignore[attr-defined]
    assert make_answerer(Settings(sentence_reader=True)).reader is SHIPPED_READER  # type: ignore[attr-defined]
    llm = make_answerer(Settings(llm="openai:m", openai_base_url="http://127.0.0.1:9/v1",
                                 sentence_reader=True))
    assert llm.fallback.reader is SHIPPED_READER  # type: ignore[attr-defined]
