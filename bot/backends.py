"""The one factory of answerers: `extractive` (default), `openai:<model>`, `llamacpp:<path.gguf>`."""

from __future__ import annotations

from bot.chain import Answerer
from bot.extractive import ExtractiveAnswerer
from bot.settings import Settings

BACKENDS = ("extractive", "openai:<model>", "llamacpp:<path.gguf>")


class BackendError(ValueError):
    """An answerer name that does not name a known backend, or one that cannot start."""


def make_answerer(settings: Settings) -> Answerer:
    """The answerer named by `settings.llm`; BackendError lists the valid names otherwise."""
    name = settings.llm.strip()
    if name == "extractive":
        return ExtractiveAnswerer()
    raise BackendError(f"Unknown answer backend {name!r}. Valid: {', '.join(BACKENDS)}.")
