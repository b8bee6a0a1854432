"""A LangChain chat model over llama-cpp-python, for local GGUF files (the `casebot[llamacpp]` extra).

LangChain's own llama.cpp chat model lives in langchain-community, which is being sunset, so this
is a small BaseChatModel around `llama_cpp.Llama.create_chat_completion` (the chat template comes
from the GGUF's metadata). The model loads on first use; generation is serialised by a lock
because one Llama instance is not safe to share between threads, and stops with TimeoutError once
it runs past the timeout.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import PrivateAttr

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}


def llama_cpp_available() -> bool:
    """Whether llama-cpp-python can be imported."""
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


class LlamaCppChat(BaseChatModel):
    """Chat completions from a GGUF model run in process by llama-cpp-python."""

    model_path: str
    timeout: float = 60.0
    n_ctx: int = 4096
    max_tokens: int = 256
    repeat_penalty: float = 1.2
    temperature: float = 0.1
    n_threads: int | None = None
    seed: int = 7

    _llama: Any = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _llm_type(self) -> str:
        return "llamacpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "n_ctx": self.n_ctx, "max_tokens": self.max_tokens}

    def load(self) -> Any:
        """The llama_cpp.Llama for `model_path`, loaded once."""
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(model_path=self.model_path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                seed=self.seed, verbose=False)
        return self._llama

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
                ) -> Iterator[ChatGenerationChunk]:
        payload = [{"role": _ROLES.get(m.type, "user"), "content": m.text} for m in messages]
        started = time.monotonic()
        with self._lock:
            chunks = self.load().create_chat_completion(
                messages=payload, stream=True, max_tokens=self.max_tokens,
                temperature=self.temperature, repeat_penalty=self.repeat_penalty,
                stop=stop or [])
            for chunk in chunks:
                if time.monotonic() - started > self.timeout:
                    raise TimeoutError(f"no answer within {self.timeout:g} s")
                text = chunk["choices"][0].get("delta", {}).get("content") or ""
                if not text:
                    continue
                generation = ChatGenerationChunk(message=AIMessageChunk(content=text))
                if run_manager is not None:
                    run_manager.on_llm_new_token(text, chunk=generation)
                yield generation

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(chunk.text for chunk in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])
