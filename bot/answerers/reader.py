"""The sentence reader: a cross-encoder that reads a question and a candidate sentence together.

The bundled all-MiniLM-L6-v2 embeds a question and a sentence apart; this model reads them as one
pair ("question [SEP] sentence"), so it sees which words of the sentence answer which words of
the question. It is MiniLM's six layers, mean-pooled, with one linear layer giving the score,
trained here on the SQuAD-format articles of the shared data (`make train`,
training/train_reader.py). Its weights ship in half precision beside this module
(`sentence_reader/model.safetensors`, data card in `sentence_reader/README.md`); the tokenizer and
the architecture are the bundled model's, so nothing is downloaded.

It loads on first use (about 2 s) and reads a question's eight best candidates in about 60 ms on
two cores.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import torch

SHIPPED_WEIGHTS = Path(__file__).parent / "sentence_reader" / "model.safetensors"
MAX_TOKENS = 128


def _network() -> type[torch.nn.Module]:
    """The reader's network class (torch and transformers are imported only when it is built)."""
    import torch

    class PairScorer(torch.nn.Module):
        """A transformer over the pair, its output mean-pooled over the tokens, then a score."""

        def __init__(self, encoder: torch.nn.Module, hidden: int) -> None:
            super().__init__()
            self.encoder = encoder
            self.head = torch.nn.Linear(hidden, 1)

        def forward(self, **batch: torch.Tensor) -> torch.Tensor:
            hidden = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            return self.head((hidden * mask).sum(1) / mask.sum(1)).squeeze(-1)

    return PairScorer


class SentenceReader:
    """Scores candidate sentences for a question by reading each pair; higher is better.

    `weights` is a safetensors file written by `save` (default: the shipped one); None starts from
    the bundled MiniLM with a fresh score layer, which is where training begins.
    """

    def __init__(self, weights: Path | None = SHIPPED_WEIGHTS) -> None:
        self.weights = weights
        self._lock = threading.Lock()
        self._tokenizer: Any = None
        self._network: torch.nn.Module | None = None

    @property
    def network(self) -> torch.nn.Module:
        """The model, loaded on first use."""
        with self._lock:
            if self._network is None:
                self._network = self._load()
            return self._network

    def warm_up(self) -> None:
        """Load the model now."""
        _ = self.network

    def _load(self) -> torch.nn.Module:
        # Everything is on disk: never let the hub client reach for the network.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoConfig, AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        from vectorstore.embeddings import bundled_model_path

        transformers_logging.disable_progress_bar()
        base = bundled_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(base)
        if self.weights is None:
            encoder = AutoModel.from_pretrained(base)
            return _network()(encoder, encoder.config.hidden_size).eval()
        if not self.weights.is_file():
            raise FileNotFoundError(f"The sentence reader's weights are missing: {self.weights}. "
                                    "`make train` writes them.")
        from safetensors.torch import load_file

        config = AutoConfig.from_pretrained(base)
        network = _network()(AutoModel.from_config(config), config.hidden_size)
        state = {name: tensor.float() for name, tensor in load_file(str(self.weights)).items()}
        network.load_state_dict(state)
        return network.eval()

    def logits(self, question: str, texts: Sequence[str]) -> torch.Tensor:
        """One score per text, as a tensor that training can differentiate."""
        network = self.network
        with self._lock:  # a fast tokenizer must not be entered by two threads at once
            batch = self._tokenizer([question] * len(texts), list(texts), truncation=True,
                                    max_length=MAX_TOKENS, padding=True, return_tensors="pt")
        result: torch.Tensor = network(**batch)
        return result

    def scores(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """One score per text."""
        import torch

        if not texts:
            return np.zeros(0, dtype=np.float32)
        with torch.inference_mode():
            return self.logits(question, texts).numpy().astype(np.float32)

    def save(self, path: Path) -> None:
        """Write the weights in half precision (what `SentenceReader(path)` loads)."""
        from safetensors.torch import save_file

        path.parent.mkdir(parents=True, exist_ok=True)
        state = {name: tensor.detach().half().contiguous()
                 for name, tensor in self.network.state_dict().items()}
        save_file(state, str(path))


SHIPPED_READER = SentenceReader()
