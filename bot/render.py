"""Render answers for the web chat as Markdown in which case text can never become markup."""

from __future__ import annotations

import html
import re

from bot.answer import Answer

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~:])")
_MARKER = re.compile(r"\\\[¶(\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Text shown literally: HTML entities escaped, Markdown syntax backslash-escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=True))


def answer_markdown(answer: Answer) -> str:
    """The answer text, then every cited paragraph with its label and section."""
    body = _MARKER.sub(r"**[¶\1]**", escape_markdown(answer.answer))
    parts = [body]
    if answer.notice:
        parts.append(f"*{escape_markdown(answer.notice)}*")
    if answer.citations:
        parts.append("**Sources**")
        for citation in answer.citations:
            heading = f"**{citation.label}**"
            if citation.section:
                heading += f" · *{escape_markdown(citation.section)}*"
            parts.append(f"> {heading}  \n> {escape_markdown(citation.text)}")
    return "\n\n".join(parts)
