"""The one place that wires casebot together: the store, the answerer backend and the CaseBot.

Answerers: `extractive` (default), `openai:<model>`, `llamacpp:<path.gguf>`.

LLM backends are imported only when named, so the default path never loads LangChain's OpenAI
client or llama.cpp.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

from bot.answerers.extractive import ExtractiveAnswerer
from bot.errors import BackendError
from bot.rag.chain import Answerer, CaseBot
from bot.settings import Settings
from bot.teaching.assignment import AssignmentMatcher
from bot.teaching.hints import Teacher

if TYPE_CHECKING:
    from langchain_core.language_models import BaseChatModel

    from bot.answerers.llamacpp import LlamaCppChat
    from bot.answerers.support import Encoder
    from vectorstore.store import CaseLibrary

BACKENDS = ("extractive", "openai:<model>", "llamacpp:<path.gguf>")
FALLBACKS = ("extractive", "none")


def make_answerer(settings: Settings, encode: Encoder | None = None) -> Answerer:
    """The answerer named by `settings.llm`; BackendError lists the valid names otherwise.

    `encode` (e.g. `library.embeddings.encode_query`) lets LLM backends check support by meaning
    with the already-loaded embedding model; without it they load the bundled model on first use.
    """
    name = settings.llm.strip()
    if name == "extractive":
        return ExtractiveAnswerer()
    kind, _, argument = name.partition(":")
    argument = argument.strip()
    if kind not in ("openai", "llamacpp"):
        raise BackendError(f"Unknown answer backend {name!r}. Valid: {', '.join(BACKENDS)}.")
    if not argument:
        raise BackendError(f"Backend {name!r} needs {'a model name' if kind == 'openai' else 'a .gguf path'}"
                           f" after the colon. Valid: {', '.join(BACKENDS)}.")
    fallback = _fallback(settings)
    from bot.answerers.context import ContextPolicy
    from bot.answerers.llm import LLMAnswerer

    if kind == "openai":
        # No OpenAI tokenizer ships offline: the policy counts with its stated estimate.
        return LLMAnswerer(f"openai:{argument}", _openai_model(argument, settings),
                           timeout=settings.llm_timeout, fallback=fallback, encode=encode,
                           where=settings.openai_base_url or "api.openai.com",
                           context=ContextPolicy(settings.llm_context, settings.llm_context_tokens))
    # A small local model rewrites follow-ups badly and slowly: it answers with the history instead.
    local = _llamacpp_model(argument, settings)
    # Its own tokenizer counts, and the case must leave room in its window for the rest.
    budget = max(256, min(settings.llm_context_tokens, local.n_ctx - local.max_tokens - 1024))
    return LLMAnswerer(f"llamacpp:{argument}", local,
                       timeout=settings.llm_timeout, fallback=fallback, encode=encode,
                       where=Path(argument).name, condense=False,
                       context=ContextPolicy(settings.llm_context, budget, local.count_tokens))


def _fallback(settings: Settings) -> Answerer | None:
    choice = settings.llm_fallback.strip().lower()
    if choice not in FALLBACKS:
        raise BackendError(f"Unknown fallback {settings.llm_fallback!r} (CASEBOT_LLM_FALLBACK). "
                           f"Valid: {', '.join(FALLBACKS)}.")
    return ExtractiveAnswerer() if choice == "extractive" else None


def _openai_model(model: str, settings: Settings) -> BaseChatModel:
    if not settings.openai_base_url and not settings.openai_api_key:
        raise BackendError(f"openai:{model} needs OPENAI_API_KEY (for OpenAI) or OPENAI_BASE_URL (for an "
                           "OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 for Ollama).")
    if importlib.util.find_spec("langchain_openai") is None:
        raise BackendError(f"openai:{model} needs the OpenAI client: pip install 'casebot[openai]'.")
    from bot.answerers.llm import openai_chat_model

    return openai_chat_model(model, settings.openai_base_url, settings.openai_api_key,
                             settings.llm_timeout)


def _llamacpp_model(path: str, settings: Settings) -> LlamaCppChat:
    from bot.answerers.llamacpp import LlamaCppChat, llama_cpp_available

    if not Path(path).expanduser().is_file():
        raise BackendError(f"llamacpp:{path}: no such model file. Give the path of a .gguf file.")
    if not llama_cpp_available():
        raise BackendError("llamacpp needs llama-cpp-python: pip install 'casebot[llamacpp]' "
                           "(it compiles for several minutes).")
    return LlamaCppChat(model_path=str(Path(path).expanduser()), timeout=settings.llm_timeout)


def open_library(settings: Settings) -> CaseLibrary:
    """The case library the settings point at (embedded store or Chroma server)."""
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    client = open_client(settings.data_dir, settings.chroma_url or None)
    # Ingest locks live beside the data even when the index is a Chroma server: writers of one
    # case on this machine wait for each other.
    return CaseLibrary(client, SentenceEmbeddings(), cache_size=settings.case_cache,
                       lock_dir=settings.data_dir / "locks")


def make_bot(settings: Settings, library: CaseLibrary | None = None) -> CaseBot:
    """A CaseBot with the configured answerer over the configured library."""
    library = library or open_library(settings)
    answerer = make_answerer(settings, encode=library.embeddings.encode_query)
    teacher = Teacher(AssignmentMatcher(settings.cases_dir, library.embeddings))
    return CaseBot(library, answerer, k=settings.top_k, default=settings.default_case,
                   teacher=teacher, guide=settings.mode == "guide")
