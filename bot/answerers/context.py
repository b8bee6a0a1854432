"""What a language model is shown of the case: the whole case when it fits, else retrieved paragraphs.

`auto` (the default) sends the whole case, as numbered paragraphs under their section headings,
when its text fits the token budget (CASEBOT_LLM_CONTEXT_TOKENS), and otherwise the retrieved
paragraphs together with the neighbours they lean on (a paragraph opening "Second, it ..." comes
with the one before it, which says what "it" is). `whole` and `retrieved` force one or the other.

Tokens are counted with the model's own tokenizer when the backend has one (llama.cpp); otherwise
with a stated estimate, `estimate_tokens`: one token per 4 characters or per 0.75 words, whichever
is more (OpenAI's rule of thumb for English; no GPT tokenizer ships offline, tiktoken downloads its
encodings at run time). Only the case text counts against the budget, so the decision is the same
for every question about a case and the case text, sent first, is a prefix that servers with
prompt caching reuse across a class.

The paragraphs sent become the evidence's hits: citation enforcement lets an answer cite exactly
the paragraphs the model was shown, whichever mode chose them.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from bot.answer import Evidence
from bot.rag.citations import marker
from bot.rag.guard import carries_instructions
from bot.settings import DEFAULT_LLM_CONTEXT_TOKENS, LLM_CONTEXTS, MIN_LLM_CONTEXT_TOKENS
from vectorstore.hybrid import ScoredParagraph
from vectorstore.store import LoadedCase

CONTEXT_MODES = LLM_CONTEXTS
DEFAULT_CONTEXT_TOKENS = DEFAULT_LLM_CONTEXT_TOKENS
MIN_CONTEXT_TOKENS = MIN_LLM_CONTEXT_TOKENS

TokenCounter = Callable[[str], int]


class ContextError(ValueError):
    """A context mode or token budget that is not valid."""


def estimate_tokens(text: str) -> int:
    """Tokens `text` takes, estimated: chars / 4 or words * 4 / 3, whichever is more."""
    return max(math.ceil(len(text) / 4), math.ceil(len(text.split()) * 4 / 3))


def check_mode(mode: str) -> str:
    """The mode, lower-cased; ContextError listing the valid ones otherwise."""
    cleaned = mode.strip().lower()
    if cleaned not in CONTEXT_MODES:
        raise ContextError(f"Unknown LLM context {mode!r} (CASEBOT_LLM_CONTEXT, --llm-context). "
                           f"Valid: {', '.join(CONTEXT_MODES)}.")
    return cleaned


def check_budget(tokens: int) -> int:
    """The budget when it is a usable number of tokens; ContextError otherwise."""
    if tokens < MIN_CONTEXT_TOKENS:
        raise ContextError(f"LLM context budget must be at least {MIN_CONTEXT_TOKENS} tokens "
                           f"(CASEBOT_LLM_CONTEXT_TOKENS, --llm-context-tokens), got {tokens}.")
    return tokens


@dataclass(frozen=True)
class Context:
    """What one question's prompt shows of the case."""

    mode: str  # "whole" or "retrieved": what was actually sent
    evidence: Evidence  # hits = the paragraphs sent: retrieved ones first (best first), then the rest
    text: str  # the paragraphs as the prompt shows them
    tokens: int  # of `text`, by the policy's counter


def format_paragraphs(paragraphs: Iterable[ScoredParagraph]) -> str:
    """Paragraphs in reading order, each led by its `[¶n]` marker, under their section headings.

    A heading is repeated after a gap, so a paragraph is never read under the wrong section.
    """
    lines: list[str] = []
    section: str | None = None
    previous = -1
    for hit in sorted(paragraphs, key=lambda h: h.paragraph):
        if hit.section and (hit.section != section or hit.paragraph != previous + 1):
            lines.append(f"## {data_text(hit.section)}")
        section, previous = hit.section, hit.paragraph
        lines.append(f"{marker(hit.paragraph)} {data_text(hit.text)}")
    return "\n\n".join(lines)


def data_text(text: str) -> str:
    """Untrusted text made safe to place between prompt delimiters (no tags can be closed)."""
    return text.replace("<", "‹").replace(">", "›").strip()


def whole_case(case: LoadedCase) -> list[ScoredParagraph]:
    """Every paragraph of the case, in reading order, except any that addresses the assistant."""
    return [ScoredParagraph(case.case_id, number, section, text, 0.0, 0.0)
            for number, (section, text) in sorted(case.paragraphs.items())
            if not carries_instructions(text)]


def leaned_on(case: LoadedCase, paragraphs: Iterable[int]) -> list[int]:
    """`paragraphs` with the paragraphs they lean on (and the ones continuing them), sorted.

    A paragraph whose first sentence only makes sense after the sentence before it ("Second, it
    provided ...") brings the paragraph holding that sentence, and so on back; a paragraph that the
    next one continues brings that one too.
    """
    wanted = set(paragraphs)
    queue = list(wanted)
    while queue:
        number = queue.pop()
        neighbours = []
        rows = case.sentences_of(number)
        if rows and (previous := case.leans_on(rows[0])) is not None:
            neighbours.append(case.paragraph_of(previous))
        following = case.continued_by(number)
        if following is not None:
            neighbours.append(following)
        for neighbour in neighbours:
            if neighbour not in wanted and neighbour in case.paragraphs:
                wanted.add(neighbour)
                queue.append(neighbour)
    return sorted(wanted)


class ContextPolicy:
    """Chooses, for each question, whether the model sees the whole case or retrieved paragraphs."""

    def __init__(self, mode: str = "auto", budget: int = DEFAULT_CONTEXT_TOKENS,
                 count: TokenCounter | None = None) -> None:
        self.mode = check_mode(mode)
        self.budget = check_budget(budget)
        self.count = count or estimate_tokens
        self.counter_name = "estimate" if count is None else "tokenizer"
        # The whole case's text and token count, per stored case version (a collection name).
        self._whole: dict[str, tuple[list[ScoredParagraph], str, int]] = {}
        self._lock = threading.Lock()

    def whole(self, case: LoadedCase) -> tuple[list[ScoredParagraph], str, int]:
        """The whole case's paragraphs, prompt text and tokens (computed once per case version)."""
        key = case.info.collection
        with self._lock:
            cached = self._whole.get(key)
        if cached is None:
            paragraphs = whole_case(case)
            text = format_paragraphs(paragraphs)
            cached = (paragraphs, text, self.count(text))
            with self._lock:
                self._whole[key] = cached
        return cached

    def fits(self, case: LoadedCase) -> bool:
        """Whether the whole case fits the budget."""
        return self.whole(case)[2] <= self.budget

    def build(self, evidence: Evidence) -> Context:
        """The context for one question: evidence whose hits are exactly the paragraphs sent."""
        case = evidence.case
        if self.mode == "whole" or (self.mode == "auto" and self.fits(case)):
            paragraphs, text, tokens = self.whole(case)
            retrieved = {hit.paragraph: hit for hit in evidence.hits}
            # Retrieved paragraphs keep their scores and come first (hits are best first).
            hits = [*evidence.hits, *(p for p in paragraphs if p.paragraph not in retrieved)]
            return Context("whole", replace(evidence, hits=tuple(hits)), text, tokens)
        hits = list(evidence.hits)
        known = {hit.paragraph for hit in hits}
        for number in leaned_on(case, known):
            if number not in known:
                section, text = case.paragraphs[number]
                if not carries_instructions(text):
                    hits.append(ScoredParagraph(case.case_id, number, section, text, 0.0, 0.0))
        text = format_paragraphs(hits)
        return Context("retrieved", replace(evidence, hits=tuple(hits)), text, self.count(text))
