"""Render answers for the web chat as Markdown in which case text can never become markup."""

from __future__ import annotations

import html
import re
from collections.abc import Callable

from bot.answer import Answer, Citation
from bot.rag.citations import MARKER
from vectorstore.text import sentences

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~:])")
# A marker after escape_markdown has escaped its brackets: `\[¶12\]`.
_MARKER = re.compile(r"\\\[¶(\d+)\\\]")


def escape_markdown(text: str) -> str:
    """Text shown literally: HTML entities escaped, Markdown syntax backslash-escaped.

    Quotes are left alone: this text only ever lands in element content, never in an attribute,
    and `&#x27;` would have its `#` backslash-escaped and show as literal "&#x27;".
    """
    return _MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))


def bold_marker(paragraph: int) -> str:
    """A citation marker shown in bold."""
    return f"**[¶{paragraph}]**"


def answer_markdown(answer: Answer, cite: Callable[[int], str] = bold_marker,
                    anchor: Callable[[int], str] | None = None) -> str:
    """The answer text, then every cited paragraph with its label and section.

    `cite` renders the markers of cited paragraphs; `anchor` may add fixed markup in front of each
    source (the embed page's link targets). Everything taken from the case stays escaped.
    """
    cited = {c.paragraph for c in answer.citations}

    def marker(match: re.Match[str]) -> str:
        number = int(match.group(1))
        return cite(number) if number in cited else match.group(0)

    parts = [_MARKER.sub(marker, escape_markdown(answer.answer))]
    if answer.notice:
        parts.append(f"*{escape_markdown(answer.notice)}*")
    said = _folded(MARKER.sub(" ", answer.answer))
    for title, listed in (("**Sources**", answer.citations), ("**See also**", answer.see_also)):
        if listed:
            parts.append(title)
            parts.extend(_passage(citation, said, anchor, answer.guided) for citation in listed)
    return "\n\n".join(parts)


def _passage(citation: Citation, said: str, anchor: Callable[[int], str] | None,
             guided: bool = False) -> str:
    """One listed paragraph as a quote block: its label and page, section and text (a hint names the
    paragraph only: the student reads it in the case)."""
    heading = f"**{escape_markdown(citation.place)}**"
    if citation.section:
        heading += f" · *{escape_markdown(citation.section)}*"
    prefix = anchor(citation.paragraph) if anchor is not None else ""
    if guided:
        return f"> {prefix}{heading}"
    if _folded(citation.text) in said or set(sentences(citation.text)) <= set(citation.quote):
        # The answer already quotes the whole paragraph: name it, do not repeat it.
        return f"> {prefix}{heading} · quoted in full above"
    return f"> {prefix}{heading}  \n> {escape_markdown(citation.text)}"


def _folded(text: str) -> str:
    """Text compared loosely: case and runs of whitespace ignored."""
    return " ".join(text.split()).lower()
