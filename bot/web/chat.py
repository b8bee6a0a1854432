"""The Gradio web chat: streamed answers with their cited paragraphs, one history per session."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.answer import Answer, Turn
from bot.errors import QuestionError, StoreError, describe
from bot.rag.chain import MAX_QUESTION_CHARS, CaseBot, check_question
from bot.rag.conversation import MAX_HISTORY_TURNS
from bot.records import Recorder
from bot.settings import Settings, quiet_libraries
from bot.web.feedback import pseudonymous_session, wire_feedback
from bot.web.ratelimit import Client, QuestionLimiter, RateLimited, RateLimitStoreError
from bot.web.render import answer_markdown, escape_markdown

if TYPE_CHECKING:
    import gradio as gr

    from bot.web.lti_tool import LtiUser

CONCURRENCY = 4
# A session keeps its last turns only (each turn is a question and an answer with its sources):
# server memory per session stays bounded however long a student chats.
MAX_SESSION_TURNS = 25
# CASEBOT_ACCESS=lti, a question about another case than the one the course opened.
OTHER_CASE = "This chat answers questions about the case your course opened it for only."
# Shown under the box when the case brings no examples.json of its own (a JSON list of questions;
# JSON, so that `casebot ingest` of the cases folder does not take it for a case).
GENERIC_EXAMPLES = [
    "What is this case about?",
    "Who are the main people and companies?",
    "What decision does the case turn on?",
]
CSS = """
.casebot-header h1 { margin: 0 0 0.1em 0; font-size: 1.6em; }
.casebot-header p { margin-top: 0; color: var(--body-text-color-subdued); }
/* The chat's own corner toolbar (clear icon) sat over scrolled messages: "New chat" does that. */
.casebot-chat .top-panel { display: none !important; }
.casebot-count { text-align: right; font-size: 0.8em; color: var(--body-text-color-subdued);
                 min-height: 1.2em; }
.casebot-count.casebot-over { color: var(--error-text-color, #b91c1c); font-weight: 600; }
@media (max-width: 640px) {
  .casebot-chat { height: 50vh !important; max-height: 50vh !important; }
  .casebot-header h1 { font-size: 1.15em; }
  .casebot-header p { font-size: 0.8em; margin-bottom: 0; }
  .gradio-container { padding-top: 4px !important; }
}
"""
# Counts characters in the browser as the student types (no server round trip per key); the
# server still refuses an over-long question with a message, and nothing is ever cut. The count
# is refreshed on every keystroke and whenever the page changes: Gradio renders components as
# their code arrives, so the counter may appear after the box has text in it, and a sent question
# clears the box without a keystroke.
CHAT_HEAD = f"""
<script>
(function () {{
  function refresh() {{
    document.querySelectorAll(".casebot-question textarea").forEach(function (box) {{
      var root = box.closest(".gradio-container") || document;
      var counter = root.querySelector(".casebot-count");
      if (!counter) return;
      var left = {MAX_QUESTION_CHARS} - box.value.length;
      var text = left < 0 ? (-left) + " characters too many (at most {MAX_QUESTION_CHARS:,})"
        : (left < 200 ? left + " characters left" : "");
      if (counter.textContent !== text) counter.textContent = text;
      counter.classList.toggle("casebot-over", left < 0);
    }});
  }}
  document.addEventListener("input", refresh, true);
  new MutationObserver(refresh).observe(document.documentElement, {{childList: true, subtree: true}});
  refresh();
}})();
</script>
"""


def _gradio() -> Any:
    quiet_libraries()
    import gradio as gr

    return gr


def limited_message(limited: RateLimited) -> str:
    """The friendly in-conversation message for a question over the rate limit."""
    return (f"You have asked many questions in a short time (at most {limited.limit.requests} per "
            f"{_period_words(limited)}). Please wait about {limited.retry_after} s, then send "
            "your question again: it is still in the box.")


def _period_words(limited: RateLimited) -> str:
    from bot.web.ratelimit import describe

    return describe(limited.limit)


def respond(bot: CaseBot, question: str, log: list[dict[str, str]], case: str,
            render: Callable[[Answer], str] = answer_markdown,
            limiter: QuestionLimiter | None = None, client: Client | None = None,
            recorder: Recorder | None = None, channel: str = "chat",
            ) -> Iterator[tuple[str, list[dict[str, str]], list[dict[str, str]]]]:
    """Stream one answer: (cleared textbox, chat messages, new session log) as the answer grows.

    The session log keeps each message twice: as text for the conversation history, and as shown
    (an answer with its cited paragraphs), so earlier answers keep their sources on screen.
    """
    gr = _gradio()
    history = tuple(Turn(m["role"], m["content"]) for m in log)[-MAX_HISTORY_TURNS:]
    try:
        # Asked, shown and recorded as cleaned (no control characters or lone surrogates).
        question = check_question(question)
    except QuestionError as error:
        # A notice in the conversation, not an error state: the text stays in the box (nothing is
        # cut) and the conversation stays usable.
        yield question, [*_messages(log), _notice(str(error))], log
        return
    if limiter is not None:
        try:
            limiter.check(client or Client(ip="unknown"))
        except RateLimited as limited:
            # Shown in the conversation, not as an error: the question stays in the box and the
            # session stays as it was (the notice is not part of the history).
            yield question, [*_messages(log), _notice(limited_message(limited))], log
            return
        except RateLimitStoreError:
            raise gr.Error("The server cannot check its question limit right now. Try again in a "
                           "moment.") from None
    try:
        stream = bot.stream(question, history, case)
        asked = {"role": "user", "content": question.strip(), "shown": escape_markdown(question)}
        shown = [*_messages(log), _message(asked)]
        text = ""
        for piece in stream:
            if isinstance(piece, Answer):
                if recorder is not None:
                    who = client or Client(ip="")
                    # An LTI user is kept only as a keyed hash (the records hash `user_id`), with
                    # the platform and course of the launch, which scope instructors' views.
                    piece = recorder.record(piece, question, history, channel,
                                            pseudonymous_session(who.session), user_id=who.user or None,
                                            platform=who.platform or None, course=who.course or None)
                answered = {"role": "assistant", "content": piece.answer, "shown": render(piece),
                            "answer_id": piece.answer_id}
                new_log = [*log, asked, answered][-2 * MAX_SESSION_TURNS:]
                yield "", _messages(new_log), new_log
                return
            text += piece
            yield "", [*shown, {"role": "assistant", "content": escape_markdown(text)}], log
    except Exception as error:
        problem = describe(error)
        if problem is None:
            raise
        raise gr.Error(problem.message) from None


def _notice(text: str) -> dict[str, str]:
    """An assistant message that is not part of the conversation's history."""
    return {"role": "assistant", "content": f"*{escape_markdown(text)}*"}


def _message(entry: dict[str, str]) -> dict[str, str]:
    return {"role": entry["role"], "content": entry["shown"]}


def _messages(log: list[dict[str, str]]) -> list[dict[str, str]]:
    """The chat messages of a session log, as they were shown when answered."""
    return [_message(entry) for entry in log]


def build_chat(bot: CaseBot, settings: Settings, embed: bool = False,
               limiter: QuestionLimiter | None = None, recorder: Recorder | None = None,
               lti_user: Callable[[Any], LtiUser | None] | None = None) -> gr.Blocks:
    """The chat page; `embed=True` drops the header for use inside an iframe. `limiter` counts
    every question answered here, whichever Gradio route it arrives by; with records on, each
    answer has thumbs up/down (and an optional comment) kept by `recorder`; `lti_user` reads the
    (pseudonymous) LTI user of a request to a launched chat, None for anyone else."""
    from bot.web.embed import answer_markdown_linked

    gr = _gradio()
    # One renderer for / and /embed: [¶n] markers link to their source under the answer.
    render = answer_markdown_linked
    cases = bot.library.cases()
    choices = [(f"{c.title} ({c.case_id})", c.case_id) for c in cases]
    default = _default_case(bot, [c.case_id for c in cases])
    title = next((c.title for c in cases if c.case_id == default), "casebot")

    rating = recorder is not None and recorder.enabled
    with gr.Blocks(title="casebot", fill_height=True, fill_width=embed) as demo:
        if not embed:
            gr.Markdown(f"# casebot\n{escape_markdown(title)} · answers come from the case and "
                        "cite its paragraphs.", elem_classes="casebot-header")
        case = gr.Dropdown(choices=choices, value=default, label="Case", visible=len(cases) > 1,
                           interactive=True)
        # No label or clear icon over the messages: "New chat" below clears the conversation.
        chatbot = gr.Chatbot(show_label=False, height="64vh" if not embed else "60vh",
                             placeholder="Ask a question about the case.", buttons=["copy"],
                             feedback_options=("Like", "Dislike") if rating else None,
                             group_consecutive_messages=False,
                             # Case text is shown as written: "$$…$$" in it is not maths.
                             latex_delimiters=[], elem_classes="casebot-chat")
        # Each session's history lives in server memory: it expires once the session has been
        # idle for settings.session_ttl seconds (Gradio's default would keep it for ever).
        session_log = gr.State([], time_to_live=settings.session_ttl)
        with gr.Row():
            # No max_length: the browser would silently cut a long question; the server refuses
            # it with a message instead, and the counter below warns while typing.
            question = gr.Textbox(placeholder="Ask about the case…", show_label=False,
                                  scale=8, autofocus=True, submit_btn=True,
                                  elem_classes="casebot-question")
            clear = gr.Button("New chat", scale=1, min_width=90, variant="secondary")
        gr.HTML('<div class="casebot-count" aria-live="polite"></div>')
        if rating:
            # Shown after a rating: an optional comment on the answer just rated.
            rated = gr.State(None, time_to_live=settings.session_ttl)
            with gr.Row(visible=False, elem_classes="casebot-comment") as comment_row:
                # Labelled, so the box still says what it is for once the student types.
                comment = gr.Textbox(placeholder="What was wrong or missing? (optional)",
                                     label="Thanks for rating. Add a comment for your instructor?",
                                     scale=8, max_length=2000, submit_btn="Send")
        gr.Examples(case_examples(settings.cases_dir, default), inputs=question, label="Try")
        channel = "embed" if embed else "chat"

        def answer(text: str, log: list[dict[str, str]], case_id: str, request: Any) -> Iterator[Any]:
            launched = lti_user(request) if lti_user is not None and request is not None else None
            if settings.access == "lti" and (launched is None or launched.case_id != case_id):
                # A launch opens its own case only: cases are licensed course by course.
                yield text, [*_messages(log), _notice(OTHER_CASE)], log
                return
            who = _client(request, launched)
            yield from respond(bot, text, log, case_id, render, limiter, who, recorder,
                               "lti" if who.user else channel)

        answer.__annotations__["request"] = gr.Request
        question.submit(answer, [question, session_log, case], [question, chatbot, session_log],
                        api_name="ask", concurrency_limit=CONCURRENCY)
        clear.click(lambda: ([], []), None, [chatbot, session_log], api_name="clear")
        if rating and recorder is not None:
            wire_feedback(gr, recorder, chatbot, session_log, rated, comment_row, comment)
        case.change(lambda: ([], []), None, [chatbot, session_log], api_visibility="private")

        def pick_case(request: Any) -> Any:
            # Listed again on every page load: cases ingested while the server runs appear.
            try:
                fresh = bot.library.cases()
            except StoreError:
                return gr.update()
            ids = [c.case_id for c in fresh]
            wanted = request.query_params.get("case", "") if request else ""
            value = wanted if wanted in ids else _default_case(bot, ids)
            return gr.update(choices=[(f"{c.title} ({c.case_id})", c.case_id) for c in fresh],
                             value=value, visible=len(fresh) > 1)

        # Gradio injects the request only when it can resolve the hint; with postponed
        # annotations and a lazily imported gradio it cannot, so give it the class itself.
        pick_case.__annotations__["request"] = gr.Request

        demo.load(pick_case, None, case, api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def case_examples(cases_dir: Path, case_id: str, limit: int = 4) -> list[str]:
    """Example questions for a case: its folder's examples.json, else questions for any case."""
    try:
        found = json.loads((cases_dir / case_id / "examples.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return GENERIC_EXAMPLES
    listed = found if isinstance(found, list) else []
    questions = [q.strip() for q in listed if isinstance(q, str) and q.strip()]
    return questions[:limit] or GENERIC_EXAMPLES


def _default_case(bot: CaseBot, ids: list[str]) -> str:
    """The bot's default case; with several and none set, the first (the student picks)."""
    try:
        return bot.default_case()
    except LookupError:
        return ids[0] if ids else ""


def _client(request: Any, user: LtiUser | None) -> Client:
    """Who asks in the chat: the LTI user of a launched chat (with its platform and course), else
    the browser session (Gradio's session hash); and its address."""
    host = request.client.host if request is not None and request.client else "unknown"
    session = str(getattr(request, "session_hash", "") or "") if request is not None else ""
    if user is None:
        return Client(ip=host, session=session)
    return Client(ip=host, session=session, user=user.user, platform=user.platform, course=user.course)
