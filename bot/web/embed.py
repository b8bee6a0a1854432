"""The chat's answer rendering (at / and /embed): [¶n] markers become links that open the case
reader (`/read/{case}`) beside the chat at the cited paragraph, its quoted sentences highlighted;
a small script opens the link in the reader panel instead of a new tab.

Case text is escaped exactly as in bot.web.render, so it can never become markup; the only HTML is the
fixed anchor markup produced here.
"""

from __future__ import annotations

import html
import uuid

from bot.answer import Answer
from bot.web.reader import reader_link
from bot.web.render import answer_markdown

# Citation links, on both the chat at / and the embed page.
CITE_CSS = """
a.casebot-cite { font-weight: 600; text-decoration: none; white-space: nowrap; }
.casebot-reader-col:not(.casebot-open) { display: none !important; }
.casebot-reader-bar { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.casebot-reader-bar h2 { font-size: 1em; margin: 0; }
.casebot-reader-frame { width: 100%; height: 76vh; border: 1px solid var(--border-color-primary);
                        border-radius: 6px; background: #fff; }
@media (max-width: 640px) {
  .casebot-reader-col.casebot-open { position: fixed !important; inset: 0 0 0 6%; z-index: 1000;
    padding: 8px; background: var(--background-fill-primary); box-shadow: -4px 0 16px #0004; }
  .casebot-reader-frame { height: calc(100vh - 64px); }
}
"""
# The reader beside the chat (a drawer on phones): a labelled region with a close button; the page
# it shows is the reader itself, so a deep link and the panel show the same thing.
READER_PANEL = """
<div class="casebot-reader" role="region" aria-label="Reader">
  <div class="casebot-reader-bar">
    <h2 tabindex="-1">The case</h2>
    <button type="button" class="casebot-reader-close">Close the reader</button>
  </div>
  <iframe class="casebot-reader-frame" title="The case, at the cited paragraph"></iframe>
</div>
"""

# A citation link opens the reader panel at its paragraph (Gradio would open it in a new tab);
# Enter on a focused link clicks it too. Focus moves into the panel and back to the link when the
# panel closes (its button or Escape), so keyboard and screen-reader users keep their place.
# Without the panel (the web component in a portal page) the link opens the reader in a new tab.
EMBED_HEAD = """
<script>
(function () {
  var opener = null;
  function close() {
    var column = document.querySelector(".casebot-reader-col.casebot-open");
    if (!column) return;
    column.classList.remove("casebot-open");
    if (opener) opener.focus();
  }
  document.addEventListener("click", function (event) {
    var target = event.target;
    if (target.closest && target.closest(".casebot-reader-close")) { close(); return; }
    var link = target.closest && target.closest("a.casebot-cite");
    var column = document.querySelector(".casebot-reader-col");
    if (!link || !column) return;
    event.preventDefault();
    event.stopPropagation();
    opener = link;
    column.querySelector("iframe").src = link.getAttribute("href");
    column.classList.add("casebot-open");
    column.querySelector("h2").focus();
  }, true);
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") close();
  });
})();
</script>
"""


def source_anchor(token: str, paragraph: int) -> str:
    """The element id of one cited paragraph of one answer."""
    return f"casebot-{token}-p{paragraph}"


def answer_markdown_linked(answer: Answer, token: str | None = None) -> str:
    """The answer with each [¶n] a link to its paragraph in the reader; the cited paragraphs are
    listed below the answer. It opens with a fixed anchor the chat scrolls to after answering."""
    token = token or uuid.uuid4().hex[:8]
    links = {c.paragraph: html.escape(reader_link(c, answer.case), quote=True) for c in answer.citations}

    def cite(n: int) -> str:
        return (f'<a class="casebot-cite" href="{links[n]}" '
                f'aria-label="paragraph {n}, open in the case reader">[¶{n}]</a>')

    return f'<span class="casebot-answer" id="casebot-{token}"></span>' + answer_markdown(
        answer, cite=cite,
        anchor=lambda n: f'<span class="casebot-source" id="{source_anchor(token, n)}"></span>',
    )
