"""The LLM answerer: generated answers, streamed, grounded in the case paragraphs it is shown.

What the model is shown is the context policy's choice (`bot.answerers.context`): the whole case
when it fits the token budget, else the retrieved paragraphs with the neighbours they lean on.
One LCEL chain per question: (condense the follow-up with the history) -> prompt from `prompts/`
-> chat model -> text, streamed piece by piece. When the text is complete, citation enforcement
(`bot.answerers.support`) keeps only sentences the paragraphs sent support, with valid markers, and the
final Answer carries that text: it is authoritative and may differ from what was streamed.

Injection attempts are declined before the model is called. When the model fails (server down,
too slow, HTTP error, malformed or empty output) the answer comes from the fallback answerer with
a notice, or, without a fallback, LLMError says what failed.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.output_parsers import StrOutputParser
from langchain_core.runnables import Runnable, RunnableLambda

from bot.answer import Answer, Evidence
from bot.answerers.abstention import declined, not_covered
from bot.answerers.context import ContextPolicy
from bot.answerers.context import format_paragraphs as format_context
from bot.answerers.support import Encoder, SupportChecker, enforce, split_claims, strip_markers
from bot.errors import LLMError
from bot.rag.chain import Answerer, final_answer
from bot.rag.citations import build_citations, enforce_markers
from bot.rag.guard import looks_like_injection, quotes_prompt
from prompts import render

if TYPE_CHECKING:
    from vectorstore.store import LoadedCase

log = logging.getLogger(__name__)

HISTORY_TURNS = 6
HISTORY_CHARS = 1500
# Streamed text is held back this many characters, so that a model repeating its instructions is
# cut off before the repeated words reach the student (the final answer is enforced anyway).
STREAM_HOLDBACK = 96
WITHHELD = "(a sentence repeating casebot's instructions, withheld)"


class MalformedOutputError(RuntimeError):
    """The model answered with something that is not an answer (empty or unparseable)."""


def data_text(text: str) -> str:
    """Untrusted text made safe to place between prompt delimiters (no tags can be closed)."""
    return text.replace("<", "‹").replace(">", "›").strip()


def format_paragraphs(evidence: Evidence) -> str:
    """The paragraphs sent (the evidence's hits) in reading order, each led by its `[¶n]` marker,
    under their section headings."""
    return format_context(evidence.hits)


def format_history(evidence: Evidence, turns: int = HISTORY_TURNS) -> str:
    """The last `turns` messages of the conversation, shortened, or "(none)"."""
    recent = [t for t in evidence.history if t.content.strip()][-turns:]
    if not recent:
        return "(none)"
    lines = []
    for turn in recent:
        content = data_text(turn.content)
        if len(content) > HISTORY_CHARS:
            content = content[:HISTORY_CHARS] + "…"
        lines.append(f"{'Student' if turn.role == 'user' else 'casebot'}: {content}")
    return "\n".join(lines)


def system_prompt(evidence: Evidence) -> str:
    """The system prompt for this case (it holds a confidential marker answers must not repeat)."""
    return render("system", title=data_text(evidence.case.info.title))


def answer_messages(evidence: Evidence, standalone: str = "") -> list[BaseMessage]:
    """The system and user messages that ask the model to answer from the paragraphs."""
    restated = ""
    if standalone and standalone.strip().lower() != evidence.question.strip().lower():
        restated = ("\nRead with the conversation, the question means:\n"
                    f"<question>\n{data_text(standalone)}\n</question>\n")
    return [
        SystemMessage(system_prompt(evidence)),
        HumanMessage(render("answer", paragraphs=format_paragraphs(evidence),
                            history=format_history(evidence), question=data_text(evidence.question),
                            standalone=restated)),
    ]


def condense_messages(evidence: Evidence) -> list[BaseMessage]:
    """The message that asks the model to restate a follow-up as a standalone question."""
    return [HumanMessage(render("condense", title=data_text(evidence.case.info.title),
                                history=format_history(evidence),
                                question=data_text(evidence.question)))]


def _causes(error: BaseException) -> list[BaseException]:
    """The error and the errors behind it, outermost first."""
    seen: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _openai() -> Any:
    """The openai package, or None: it comes with the `openai` extra, and llamacpp runs without it."""
    try:
        import openai
    except ImportError:
        return None
    return openai


def _timed_out(exc: BaseException, openai: Any) -> bool:
    return isinstance(exc, TimeoutError) or bool(openai and isinstance(exc, openai.APITimeoutError))


def describe_failure(error: BaseException, timeout: float, where: str = "") -> str:
    """One line saying what went wrong with the model, for people rather than tracebacks."""
    place = f" at {where}" if where else ""
    openai = _openai()
    for exc in _causes(error):
        if _timed_out(exc, openai):
            return f"no answer within {timeout:g} s (CASEBOT_LLM_TIMEOUT)"
        if openai and isinstance(exc, openai.APIStatusError):
            body = exc.body if isinstance(exc.body, dict) else {}
            inner = body.get("error") if isinstance(body.get("error"), dict) else body
            detail = _short(str(inner.get("message") or "")) if isinstance(inner, dict) else ""
            return f"the server{place} answered HTTP {exc.status_code}" + (f" ({detail})" if detail else "")
        if openai and isinstance(exc, openai.APIConnectionError):
            return f"could not connect to the server{place}"
        if isinstance(exc, MalformedOutputError):
            return str(exc)
        if isinstance(exc, json.JSONDecodeError | KeyError) or (
                openai and isinstance(exc, openai.APIResponseValidationError)):
            return f"the server{place} sent malformed output"
    return f"{type(error).__name__}: {_short(str(error))}"


def failure_status(error: BaseException) -> int:
    """The HTTP status for a failed model call: 504 timed out, 503 unreachable, else 502."""
    openai = _openai()
    for exc in _causes(error):
        if _timed_out(exc, openai):
            return 504
        if openai and isinstance(exc, openai.APIConnectionError):
            return 503
    return 502


def _short(text: str, limit: int = 160) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[:limit] + "…"


class LLMAnswerer:
    """Answers with a chat model through an LCEL chain, with citations enforced on every answer."""

    def __init__(self, name: str, model: BaseChatModel, *, timeout: float,
                 fallback: Answerer | None, encode: Encoder | None = None, where: str = "",
                 condense: bool = True, context: ContextPolicy | None = None) -> None:
        self.name = name
        # Whole case or retrieved paragraphs (bot.answerers.context); auto with the default budget.
        self.context = context or ContextPolicy()
        self.model = model
        self.timeout = timeout
        self.fallback = fallback
        self.where = where
        self.condense = condense
        self._encode = encode

    def chain(self) -> Runnable[Evidence, BaseMessage]:
        """evidence -> (condensed question) -> prompt -> chat model -> message pieces."""
        # The model is the last step, with no StrOutputParser after it: closing a LangChain stream
        # whose last step reads another's output first reads that output to its end (for tracing),
        # so a client that hung up would still wait for the model's whole answer.
        return RunnableLambda(self._prompt) | self.model

    def condense_chain(self) -> Runnable[Evidence, str]:
        """evidence -> one standalone question (used when there is history)."""
        return RunnableLambda(condense_messages) | self.model | StrOutputParser()

    def _prompt(self, evidence: Evidence) -> list[BaseMessage]:
        standalone = ""
        if self.condense and any(t.role == "user" for t in evidence.history):
            standalone = " ".join(self.condense_chain().invoke(evidence).split())
            if not standalone:
                raise MalformedOutputError("the model returned an empty standalone question")
            if looks_like_injection(standalone) or len(standalone) > 600:
                standalone = ""  # a rewrite that turned into instructions is not used
        return answer_messages(evidence, standalone)

    def warm_up(self) -> None:
        """Load the fallback's models now (the chat model is a server or loads when built)."""
        if self.fallback is not None:
            self.fallback.warm_up()

    def answer_pattern(self, question: str, query: str) -> re.Pattern[str] | None:
        """None: the model reads what retrieval returns (or the whole case) as it is."""
        return None

    def related_texts(self, question: str, query: str, case: LoadedCase) -> list[str]:
        """Nothing to encode with the query: the support check encodes the model's own sentences."""
        return []

    def stream(self, evidence: Evidence) -> Iterator[str | Answer]:
        """Text pieces as the model writes them, then the enforced final Answer."""
        if looks_like_injection(evidence.question):
            yield declined(evidence, self.name)
            return
        if not evidence.hits:
            yield not_covered(evidence, self.name)
            return
        started = time.monotonic()
        # From here on the evidence's hits are the paragraphs the model is shown: the only ones
        # its answer may cite.
        evidence = self.context.build(evidence).evidence
        raw = ""
        sent = 0  # characters of `raw` already streamed
        leaked = False
        prompt = system_prompt(evidence)
        pieces = self.chain().stream(evidence)
        try:
            for message in pieces:
                if time.monotonic() - started > self.timeout:
                    raise TimeoutError(f"no answer within {self.timeout:g} s")
                piece = message.text
                if piece:
                    raw += piece
                    leaked = leaked or quotes_prompt(raw[max(0, sent - STREAM_HOLDBACK):], prompt)
                    if not leaked and len(raw) - sent > STREAM_HOLDBACK:
                        yield raw[sent:len(raw) - STREAM_HOLDBACK]
                        sent = len(raw) - STREAM_HOLDBACK
            if not raw.strip():
                raise MalformedOutputError("the model returned an empty answer")
            if not leaked and sent < len(raw):
                yield raw[sent:]
        except Exception as error:
            yield self._failed(evidence, error)
            return
        finally:
            close = getattr(pieces, "close", None)
            if close is not None:
                close()
        yield self.finish(raw, evidence)

    def finish(self, raw: str, evidence: Evidence) -> Answer:
        """The Answer for the model's complete text, after citation enforcement."""
        case_id = evidence.case.case_id
        enforced = enforce(raw, evidence, self.encoder())
        prompt = system_prompt(evidence)
        # Removed sentences are reported, but never one that repeats the bot's instructions.
        enforced = replace(enforced, unsupported=tuple(dict.fromkeys(
            WITHHELD if quotes_prompt(s, prompt) else s for s in enforced.unsupported)))
        if quotes_prompt(enforced.text, prompt):
            enforced = replace(enforced, text="")
        if enforced.unsupported:
            log.info("dropped %d unsupported sentence(s): %s", len(enforced.unsupported),
                     enforced.unsupported)
        if enforced.abstained:
            return not_covered(evidence, self.name, enforced.unsupported)
        # A citation quotes what the support check found its sentences supported by.
        citations = tuple(replace(c, quote=c.quote or tuple(
            sentence for paragraph, sentence in enforced.support if paragraph == c.paragraph))
            for c in build_citations(enforced.text, case_id, evidence.sources))
        return Answer(enforced.text, False, citations, case_id, self.name,
                      unsupported=enforced.unsupported)

    def guiding_question(self, evidence: Evidence, paragraphs: list[int]) -> str:
        """One Socratic question (prompts/hint.txt) sending the student to `paragraphs`, under the
        answers' checks: markers only for those paragraphs, no name or number they do not state,
        nothing of the instructions. A hint asks and states nothing, so only a question is kept;
        "" when the model fails or writes none (the caller then asks its own)."""
        prompt = system_prompt(evidence)
        messages = [SystemMessage(prompt),
                    HumanMessage(render("hint", paragraphs=format_paragraphs(evidence),
                                        question=data_text(evidence.question)))]
        try:
            raw = self.model.invoke(messages).text
        except Exception as error:
            log.warning("no guiding question from %s: %s", self.name, describe_failure(error, self.timeout))
            return ""
        checker = SupportChecker(evidence, self.encoder())
        for sentence in split_claims(raw):
            claim = strip_markers(sentence)
            if claim.endswith("?") and not quotes_prompt(claim, prompt) \
                    and not checker.check(claim, paragraphs).missing:
                return enforce_markers(sentence, set(paragraphs))
        return ""

    def encoder(self) -> Encoder:
        """The sentence encoder for the support check; the bundled model when none was given."""
        if self._encode is None:
            from vectorstore.embeddings import SentenceEmbeddings

            self._encode = SentenceEmbeddings().encode_query
        return self._encode

    def _failed(self, evidence: Evidence, error: Exception) -> Answer:
        reason = describe_failure(error, self.timeout, self.where)
        log.warning("%s failed: %s", self.name, reason, exc_info=log.isEnabledFor(logging.DEBUG))
        if self.fallback is None:
            raise LLMError(f"The language model {self.name} failed: {reason}. Set "
                           "CASEBOT_LLM_FALLBACK=extractive to answer with the case's own sentences "
                           "when it fails.", status=failure_status(error)) from error
        answer = final_answer(self.fallback.stream(evidence), self.fallback.name)
        return replace(answer, notice=f"The language model ({self.name}) failed: {reason}. "
                                      f"The {self.fallback.name} answerer answered instead.")


def openai_chat_model(model: str, base_url: str, api_key: str, timeout: float) -> BaseChatModel:
    """A ChatOpenAI for any OpenAI-compatible server, with no retries (failures fall back fast)."""
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    kwargs: dict[str, Any] = {}
    if base_url:
        kwargs["base_url"] = base_url
    # Local servers (Ollama, vLLM, llama.cpp) ignore the key but the client insists on one.
    return ChatOpenAI(model=model, api_key=SecretStr(api_key or "not-needed"), timeout=timeout, max_retries=0,
                      temperature=0.1, stream_usage=False, use_responses_api=False,
                      **kwargs)

