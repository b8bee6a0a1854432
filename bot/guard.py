"""Recognise questions that try to steer the bot instead of asking about the case."""

from __future__ import annotations

import re
import unicodedata

# Patterns of instruction-override, prompt-extraction, role-play and task-switching attempts.
_PATTERNS = [
    r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|rule|prompt|guideline|"
    r"direction|context|above|previous|prior|earlier|everything)",
    r"\b(system|initial|hidden|secret|original)\s+(prompt|message|instruction|rule)s?\b",
    r"\b(reveal|print|show|repeat|output|display|leak|dump)\b.{0,30}\b(prompt|instructions|"
    r"configuration|canary)\b",
    r"\byou are (now|no longer)\b", r"\bact as\b", r"\bpretend (to be|you)\b", r"\brole-?play\b",
    r"\bjailbreak\b", r"\bdeveloper mode\b",
    r"\b(write|compose|generate|create|sing)\b.{0,20}\b(poem|song|story|essay|joke|code|script|"
    r"haiku|limerick|letter|rap)\b",
    r"\btranslate\b.{0,40}\b(into|to)\b",
    r"\bnew (instructions|rules|task)\b", r"\bfrom now on\b",
    r"^\s*(system|assistant)\s*:",
    r"\b(base64|rot13|hex)\b",
    r"(ignorez|ignora|ignoriere|忽略|無視|игнорируй)",
    r"(instructions?|instrucciones|anweisungen|指令|指示|инструкции).{0,30}(système|sistema|system|系统|システム|систем)",
]
_INJECTION = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)
_DAN = re.compile(r"\bDAN\b")


def looks_like_injection(question: str) -> bool:
    """Whether a question tries to change the bot's instructions or task."""
    text = unicodedata.normalize("NFKC", question)
    # Collapse spacing tricks such as "i g n o r e" or "ignore\u200b".
    text = re.sub(r"[\u200b-\u200f\u2060\ufeff]", "", text)
    if _DAN.search(text):
        return True
    return bool(_INJECTION.search(text))
