"""The embeddable chat's answer rendering: [¶n] markers become links to their source paragraph,
shown under the answer; a small script scrolls to and highlights the paragraph on click.

Case text is escaped exactly as in bot.web.render, so it can never become markup; the only HTML is the
fixed anchor markup produced here.
"""

from __future__ import annotations

import uuid

from bot.answer import Answer
from bot.web.render import answer_markdown

# Citation links, on both the chat at / and the embed page.
CITE_CSS = """
a.casebot-cite { font-weight: 600; text-decoration: none; white-space: nowrap; }
.casebot-flash { outline: 2px solid var(--color-accent); border-radius: 4px; }
"""
EMBED_CSS = """
.gradio-container { padding: 0 8px !important; max-width: none !important; }
footer { display: none !important; }
""" + CITE_CSS

# Links to "#casebot-…" stay inside the chat (Gradio would open links in a new tab otherwise).
EMBED_HEAD = """
<script>
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest('a[href^="#casebot-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  var anchor = document.getElementById(link.getAttribute("href").slice(1));
  if (!anchor) return;
  var target = anchor.closest("blockquote") || anchor;
  target.scrollIntoView({behavior: "smooth", block: "nearest"});
  target.classList.add("casebot-flash");
  setTimeout(function () { target.classList.remove("casebot-flash"); }, 1600);
}, true);
</script>
"""


def source_anchor(token: str, paragraph: int) -> str:
    """The element id of one cited paragraph of one answer."""
    return f"casebot-{token}-p{paragraph}"


def answer_markdown_linked(answer: Answer, token: str | None = None) -> str:
    """The answer with each [¶n] a link to its cited paragraph, listed below the answer."""
    token = token or uuid.uuid4().hex[:8]
    return answer_markdown(
        answer,
        cite=lambda n: f'<a class="casebot-cite" href="#{source_anchor(token, n)}">[¶{n}]</a>',
        anchor=lambda n: f'<span class="casebot-source" id="{source_anchor(token, n)}"></span>',
    )
