"""The extractive answerer's learned sentence scorer and abstention decision (issue 28).

- `make train`'s code gives the same models from the same candidates and seed, on the candidates
  of a case written here (not the bundled one, not in training/data);
- written models load to the same decisions; the shipped ones are small, load, and are what the
  default answerer uses; the hand-set floor written as a model answers from the floor up;
- the default answerer, reading the shipped file, still declines a near-miss of that case;
- the table of words business cases commonly use is what `make train` counts on the train split,
  stem by stem;
- the case reader (bot/answerers/reader.py): `make train-reader`'s code gives the same reader and
  decision from the same candidates and seed; a saved reader loads to the probabilities of the
  network trained in memory, and the answerer beside a models file reads its best sentences with
  the reader beside it; a follow-up is read after the question it follows; a broken reader file
  says how to make it.

The case is ingested into a real Chroma store with the real model; the reader is the real network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bot.answer import Turn
from bot.answerers.config import HAND_SET as CONFIG
from bot.answerers.extractive import ExtractiveAnswerer
from bot.answerers.learned import SHIPPED_MODELS, decision_features, hand_set_models, load_models
from bot.answerers.reader import CaseReader, read_question
from bot.errors import ModelFileError
from bot.lang.case_vocabulary import VOCABULARY_FILE, case_word_share, case_word_shares
from bot.rag.chain import CaseBot
from training.candidates import candidates
from training.case_vocabulary import vocabulary_table
from training.train_answerer import fit

_FERRY = """# Nordvik Ferries

Nordvik Ferries runs passenger ferries between the islands of western Norway and the mainland.

The company was founded in 1962 by Astrid Holm, a former fisheries inspector, with a single \
wooden boat. Her son Lars Holm took over in 1990 and ran it until 2018.

Nordvik Ferries is based in Bergen, where it also maintains its fleet of fourteen ships.

In 2019 the regional government asked every operator to cut emissions by half within ten years. \
Nordvik answered with an order for six battery-powered ferries from a yard in Turkey.

The order cost NOK 1.2 billion. The government paid a third of it through a green-transport grant.

Passenger numbers fell sharply during the pandemic. They recovered in 2022, when the company \
carried 3.1 million passengers.

The chief executive, Maren Dahl, says the battery ships cost less to run than the diesel ones \
they replaced, because electricity is cheap in Norway.
"""

# Questions about the case, with what an answer must hold (None: the case does not answer it).
_QUESTIONS = [
    ("Who founded the ferry company?", "Astrid Holm"),
    ("Where is the firm headquartered?", "Bergen"),
    ("How much did the new ships cost?", "1.2 billion"),
    ("How many passengers did it carry in 2022?", "3.1 million"),
    ("Why are the battery ferries cheaper to operate?", "electricity is cheap"),
    ("What did the regional government demand in 2019?", "cut emissions"),
    ("How many ships are in the fleet?", "fourteen"),
    ("What was the ticket price for a crossing?", None),
    ("How much profit did the company make in 2022?", None),
    ("Which shipyard in Poland built the ferries?", None),
    ("Who will succeed Maren Dahl as chief executive?", None),
]


@pytest.fixture(scope="module")
def ferry(tmp_path_factory: pytest.TempPathFactory, embeddings: Any) -> tuple[Any, str]:
    """The Nordvik case ingested into a new store, and its id."""
    from ingest.pipeline import ingest_paths
    from vectorstore.store import CaseLibrary, open_client

    folder = tmp_path_factory.mktemp("ferry")
    (folder / "case.md").write_text(_FERRY, encoding="utf-8")
    library = CaseLibrary(open_client(folder / "index"), embeddings)
    [outcome] = ingest_paths([folder / "case.md"], library)
    assert outcome.report is not None
    return library, outcome.report.case_id


def _dump(library: Any, case_id: str) -> list[dict[str, Any]]:
    """The training dump of the questions above, as `make train` makes it."""
    bot = CaseBot(library, ExtractiveAnswerer(models=hand_set_models(CONFIG)))
    return [candidates(bot, case_id, {"id": str(i), "question": q, "history": [], "answerable": a is not None,
                                      "category": "fact", "must_include": [a] if a else [],
                                      "evidence": []})
            for i, (q, a) in enumerate(_QUESTIONS)]


def test_the_same_candidates_and_seed_give_the_same_models(ferry: tuple[Any, str]) -> None:
    lines = _dump(*ferry)
    first, again, other = fit(lines, seed=7), fit(lines, seed=7), fit(lines, seed=8)
    assert first.to_json() == again.to_json()
    assert first.to_json() != other.to_json()  # the seed is used, not ignored
    assert all(w >= 0 for w in first.scorer.weights)  # scores stay positive sums


def test_written_models_load_to_the_same_decisions(ferry: tuple[Any, str], tmp_path: Path) -> None:
    lines = _dump(*ferry)
    models = fit(lines, seed=7)
    path = tmp_path / "learned.json"
    path.write_text(models.to_json(), encoding="utf-8")
    loaded = load_models(path)
    features = decision_features([c["features"] for c in lines[0]["candidates"][:3]],
                                 [c["leaned"] for c in lines[0]["candidates"][:3]], 0.5, 1.0)
    assert loaded.abstention.probability(features) == pytest.approx(
        models.abstention.probability(features), abs=1e-4)


def test_the_shipped_models_are_small_and_are_the_default() -> None:
    assert SHIPPED_MODELS.stat().st_size < 4000
    shipped = load_models(SHIPPED_MODELS)
    assert len(shipped.scorer.weights) == 6
    assert len(shipped.abstention.coefficients) == 6 + 4
    assert not shipped.reader  # the case reader does not ship yet (docs/decisions/case-reader.md)
    assert ExtractiveAnswerer().learned() == shipped


def test_the_hand_set_floor_written_as_a_model_answers_from_it_up() -> None:
    abstention = hand_set_models(CONFIG).abstention
    evidence = [0.5] * 6
    assert not abstention.answers(decision_features([evidence], [CONFIG.floor - 0.01], 0.9, 1.0))
    assert abstention.answers(decision_features([evidence], [CONFIG.floor + 0.01], 0.1, 0.0))


def test_a_missing_models_file_says_how_to_make_it(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="make train"):
        load_models(tmp_path / "none.json")


def test_the_default_answerer_declines_a_near_miss_and_answers_the_case(ferry: tuple[Any, str]) -> None:
    library, case_id = ferry
    bot = CaseBot(library, ExtractiveAnswerer())
    swapped = bot.ask("Which shipyard in Poland built the ferries?", (), case_id)
    assert swapped.abstained  # the yard was in Turkey
    answered = bot.ask("How many passengers did it carry in 2022?", (), case_id)
    assert not answered.abstained and "3.1 million" in answered.answer


@pytest.mark.parametrize("split", ["test", "test-2"])
def test_training_never_reads_a_sealed_split(tmp_path: Path, split: str) -> None:
    from training.candidates import split_cases

    (tmp_path / "splits.json").write_text('{"dev": ["a"], "test": ["b"], "test-2": ["c"]}', encoding="utf-8")
    assert split_cases(tmp_path, "dev") == ["a"]
    with pytest.raises(SystemExit, match="sealed"):
        split_cases(tmp_path, split)


def _train(work_dir: Path, lines: list[dict[str, Any]], seed: int) -> tuple[bytes, str]:
    """Train a one-layer reader for a few steps on `lines` as two cases (one kept for the
    decision); the reader file and the models file written."""
    from training.train_reader import main

    work_dir.mkdir(parents=True, exist_ok=True)
    with (work_dir / "train.jsonl").open("w", encoding="utf-8") as out:
        for case in ("first", "second"):
            for line in lines:
                out.write(json.dumps({**line, "case": case}) + "\n")
    assert main(["--work-dir", str(work_dir), "--layers", "1", "--epochs", "0.5", "--kept-cases", "1",
                 "--no-articles", "--seed", str(seed)]) == 0
    return (work_dir / "reader.pt").read_bytes(), (work_dir / "learned.json").read_text(encoding="utf-8")


def test_the_trainer_is_reproducible_and_its_reader_loads(ferry: tuple[Any, str], tmp_path: Path) -> None:
    import torch

    lines = _dump(*ferry)
    first = _train(tmp_path / "a", lines, seed=7)
    assert first == _train(tmp_path / "b", lines, seed=7)
    assert first[0] != _train(tmp_path / "c", lines, seed=8)[0]  # the seed is used
    models = load_models(tmp_path / "a" / "learned.json")
    assert models.reader
    assert len(models.abstention.coefficients) == 2  # the reader's two numbers
    # The answerer beside that models file reads the reader beside it, to the same probabilities
    # as the network loaded by hand.
    reader = ExtractiveAnswerer(models=tmp_path / "a" / "learned.json").reader
    assert reader.path == tmp_path / "a" / "reader.pt"
    texts = ["Nordvik Ferries is based in Bergen.", "Passenger numbers fell during the pandemic."]
    network, tokenizer = reader.loaded()
    with torch.inference_mode():
        expected = torch.sigmoid(network(**tokenizer(["Where is it based?"] * 2, texts, padding=True,
                                                     return_tensors="pt"))).tolist()
    assert reader.probabilities("Where is it based?", texts) == pytest.approx(expected, abs=1e-6)
    # That answerer asks the reader about its best three sentences before deciding.
    library, case_id = ferry
    bot = CaseBot(library, ExtractiveAnswerer(models=tmp_path / "a" / "learned.json"))
    evidence = bot.evidence("Where is the firm headquartered?", (), case_id)
    answerer = bot.answerer
    assert isinstance(answerer, ExtractiveAnswerer)
    best = answerer.score(evidence)[:3]
    assert answerer.read(evidence, best) == pytest.approx(
        reader.probabilities("Where is the firm headquartered?", [s.text for s in best]), abs=1e-6)


def test_a_saved_reader_loads_to_the_trained_network_s_probabilities(ferry: tuple[Any, str],
                                                                     tmp_path: Path) -> None:
    # What `save` writes (the trained layers and score layer in half precision, not the word
    # embeddings) loads, with the wheel's embeddings, to the network trained in memory: not to a
    # network as first built.
    import torch
    from transformers import AutoTokenizer

    from bot.answerers.reader import network, save
    from training.train_reader import examples, train
    from vectorstore.embeddings import bundled_model_path

    torch.manual_seed(3)
    tokenizer = AutoTokenizer.from_pretrained(bundled_model_path())
    trained = network(2)
    train(trained, tokenizer, examples(_dump(*ferry)), epochs=2.0, seed=3, question_loss=1.0)
    save(trained, tmp_path / "reader.pt")
    question = "Where is the firm headquartered?"
    texts = ["Nordvik Ferries is based in Bergen, where it also maintains its fleet of fourteen ships.",
             "The order cost NOK 1.2 billion.", "Passenger numbers fell sharply during the pandemic."]

    def read_by(model: Any) -> list[float]:
        with torch.inference_mode():
            return torch.sigmoid(model.eval()(**tokenizer([question] * 3, texts, padding=True,
                                                          return_tensors="pt"))).tolist()

    loaded = CaseReader(tmp_path / "reader.pt").probabilities(question, texts)
    assert loaded == pytest.approx(read_by(trained), abs=0.01)
    torch.manual_seed(3)
    assert max(abs(a - b) for a, b in zip(loaded, read_by(network(2)), strict=True)) > 0.01


def test_a_follow_up_is_read_after_the_question_it_follows() -> None:
    history = (Turn("user", "Who founded Nordvik?"), Turn("assistant", "Astrid Holm [¶2]."))
    assert read_question("When?", history) == "Who founded Nordvik? When?"
    assert read_question("Who founded Nordvik?", ()) == "Who founded Nordvik?"


def test_a_broken_reader_file_says_how_to_make_it(tmp_path: Path) -> None:
    broken = tmp_path / "reader.pt"
    broken.write_bytes(b"not a model")
    with pytest.raises(ModelFileError, match="make train-reader"):
        CaseReader(broken).probabilities("Where?", ["Here."])


def test_the_shipped_case_vocabulary_is_the_train_split_s_count() -> None:
    assert vocabulary_table(Path(__file__).parent.parent / "training" / "data") == \
        VOCABULARY_FILE.read_text(encoding="utf-8")
    assert case_word_share("Revenues") == case_word_share("revenue") > 0.5  # any form of the stem
    assert case_word_share("boss") == 0.0


def test_case_word_shares_count_cases_not_uses_and_leave_numbers_out() -> None:
    shares = case_word_shares(["Revenue rose; revenue fell in 2021.", "Revenue grew.", "The boss left.",
                               "Sales of 300 units.", "Prices rose."])
    assert shares["revenu"] == 0.4 and shares["boss"] == 0.2
    assert "2021" not in shares and "300" not in shares
