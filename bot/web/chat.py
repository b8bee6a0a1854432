"""The Gradio web chat: streamed answers with their cited paragraphs, one history per session.

No `from __future__ import annotations` here: Gradio finds the request and event-data arguments
of a handler by its annotations, and those must be the classes themselves (gradio is imported
inside build_chat, so a postponed "gr.Request" would not resolve)."""

import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.answer import Answer, Turn
from bot.errors import QuestionError, StoreError, describe
from bot.rag.chain import MAX_QUESTION_CHARS, CaseBot
from bot.rag.conversation import MAX_HISTORY_TURNS
from bot.records import Recorder
from bot.settings import Settings, quiet_libraries
from bot.web.feedback import pseudonymous_session, wire_feedback
from bot.web.ratelimit import Client, QuestionLimiter, RateLimited, RateLimitStoreError
from bot.web.render import answer_markdown, escape_markdown

if TYPE_CHECKING:
    import gradio as gr

    from bot.lti.tool import LtiUser

CONCURRENCY = 4
# Characters of a case title shown in the case list: on a 390-pixel phone a longer one runs under
# the list's arrow.
SHORT_TITLE = 30
# The question box's placeholder while the page opens its case, and once it may be asked.
OPENING = "Opening the case…"
ASK = "Ask about the case…"
# After an answer: bring the answer's start (a fixed anchor of the renderer) into view, so the
# answer and its first marker are on screen rather than the end of its Sources box.
SCROLL_TO_ANSWER = """() => {
  const starts = document.querySelectorAll(".casebot-answer");
  if (starts.length) starts[starts.length - 1].scrollIntoView({block: "start"});
}"""
# A session keeps its last turns only (each turn is a question and an answer with its sources):
# server memory per session stays bounded however long a student chats.
MAX_SESSION_TURNS = 25
# Sessions kept at most (the least recently answered beyond this are dropped): Gradio's own
# default capacity of session state.
MAX_SESSIONS = 10_000
# CASEBOT_ACCESS=lti, a question about another case than the one the course opened.
OTHER_CASE = "This chat answers questions about the case your course opened it for only."
CSS = """
.casebot-header h1 { margin: 0 0 0.1em 0; font-size: 1.6em; }
.casebot-header p { margin-top: 0; color: var(--body-text-color-subdued); }
.casebot-count { text-align: right; font-size: 0.8em; color: var(--body-text-color-subdued);
                 min-height: 1.2em; }
/* The counter sits just under the box, in no row of its own: it is empty until a question nears
   the limit. */
.html-container:has(> .casebot-counter) { padding: 0 !important;
                                           margin-top: calc(4px - var(--layout-gap)) !important; }
.casebot-count.casebot-over { color: var(--error-text-color, #b91c1c); font-weight: 600; }
@media (max-width: 640px) {
  .casebot-chat { height: 50vh !important; max-height: 50vh !important; }
  .casebot-header h1 { font-size: 1.15em; }
  .casebot-header p { font-size: 0.8em; margin-bottom: 0; }
}
"""
# Counts characters in the browser as the student types (a js-only handler on the box's change
# event: no server round trip per key); the server still refuses an over-long question with a
# message, and nothing is ever cut. The change event also fires when a sent question clears the box.
COUNT_CHARACTERS = f"""(text) => {{
  const left = {MAX_QUESTION_CHARS} - (text || "").length;
  if (left < 0) return '<div class="casebot-count casebot-over" aria-live="polite">' + (-left) +
    ' characters too many (at most {MAX_QUESTION_CHARS:,})</div>';
  return '<div class="casebot-count" aria-live="polite">' +
    (left < 200 ? left + ' characters left' : '') + '</div>';
}}"""
COUNTER = '<div class="casebot-count" aria-live="polite"></div>'
# What stands around the chat on the page (px, measured in Chromium at 1280x900 and 1366x650):
# above it the header (none in an embed), below it the box (the counter under it in no row of its
# own) and the suggestions; the case switch adds its own height when it is shown (several cases,
# and not an embed pinned to one).
_AROUND_CHAT, _AROUND_EMBED_CHAT, _CASE_SWITCH = 230, 160, 108
_CHAT_MIN_HEIGHT = 240


class ChatSessions:
    """Each chat session's log, by Gradio's session id, in server memory (a cachetools TTLCache):
    a log is dropped once its session has been idle for `ttl` seconds after its last answer, and
    the least recently answered beyond `capacity` sessions. `timer` is the cache's clock."""

    def __init__(self, ttl: float, capacity: int = MAX_SESSIONS,
                 timer: Callable[[], float] = time.monotonic) -> None:
        from cachetools import TTLCache

        self._logs: TTLCache[str, list[dict[str, str]]] = TTLCache(capacity, ttl, timer=timer)
        # Gradio runs handlers on several threads; a TTLCache is not thread-safe by itself.
        self._lock = threading.Lock()

    def log(self, session: str) -> list[dict[str, str]]:
        """The session's log; empty for a new session or one that expired."""
        with self._lock:
            return self._logs.get(session, [])

    def keep(self, session: str, log: list[dict[str, str]]) -> None:
        """Keep `log` as the session's (its idle time starts again)."""
        with self._lock:
            self._logs[session] = log

    def drop(self, session: str) -> None:
        """Forget the session's log (a new chat)."""
        with self._lock:
            self._logs.pop(session, None)

    def __len__(self) -> int:
        """How many sessions hold a log that has not expired."""
        with self._lock:
            self._logs.expire()
            return len(self._logs)


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
            recorder: Recorder | None = None, channel: str = "chat", guide: bool = False,
            ) -> Iterator[tuple[str, list[dict[str, str]], list[dict[str, str]]]]:
    """Stream one answer: (cleared textbox, chat messages, new session log) as the answer grows.

    The session log keeps each message twice: as text for the conversation history, and as shown
    (an answer with its cited paragraphs), so earlier answers keep their sources on screen.
    """
    gr = _gradio()
    history = tuple(Turn(m["role"], m["content"]) for m in log)[-MAX_HISTORY_TURNS:]
    try:
        # Checked once, with its case loaded; asked, shown and recorded as cleaned (no control
        # characters or lone surrogates).
        prepared = bot.prepare(question, history, case, guide)
    except QuestionError as error:
        # A notice in the conversation, not an error state: the text stays in the box (nothing is
        # cut) and the conversation stays usable.
        yield question, [*_messages(log), _notice(str(error))], log
        return
    except Exception as error:
        raise _shown(error) from None
    question = prepared.question
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
        stream = bot.respond(prepared)
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
        raise _shown(error) from None


def _shown(error: Exception) -> Exception:
    """casebot's error as the message Gradio shows (gr.Error); any other error as it is."""
    problem = describe(error)
    return error if problem is None else _gradio().Error(problem.message)


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
               lti_user: Callable[[Any], "LtiUser | None"] | None = None,
               sessions: ChatSessions | None = None) -> "gr.Blocks":
    """The chat page; `embed=True` drops the header for use inside an iframe. `limiter` counts
    every question answered here, whichever Gradio route it arrives by; with records on, each
    answer has thumbs up/down (and an optional comment) kept by `recorder`; `lti_user` reads the
    (pseudonymous) LTI user of the page's request when it loads (kept in the session's state),
    None for anyone else; `sessions`
    keeps the conversations (default: its own, expiring after settings.session_ttl)."""
    from bot.web.casepage import SUGGESTIONS, Suggestions
    from bot.web.embed import READER_PANEL, answer_markdown_linked

    gr = _gradio()
    from gradio import Request

    # One renderer for / and /embed: [¶n] markers link to their source under the answer.
    render = answer_markdown_linked
    cases = bot.library.cases()
    choices = [(_short_title(c.title), c.case_id) for c in cases]
    default = _default_case(bot, [c.case_id for c in cases])
    suggestions = Suggestions(bot, settings.cases_dir)

    rating = recorder is not None and recorder.enabled
    with gr.Blocks(title="casebot", fill_height=True, fill_width=embed) as demo:
        title = next((c.title for c in cases if c.case_id == default), "")
        header = gr.Markdown(_header(title), elem_classes="casebot-header", visible=not embed)
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                case = gr.Dropdown(choices=choices, value=default, label="Case", visible=len(cases) > 1,
                                   interactive=True)
                # No label over the messages; its clear icon starts a new chat, as "New chat" does.
                # No autoscroll to the bottom (the end of the Sources box): after an answer the
                # chat scrolls to the answer's start instead (SCROLL_TO_ANSWER).
                chatbot = gr.Chatbot(show_label=False, height=_chat_height(embed, len(cases) > 1),
                                     placeholder="Ask a question about the case.", buttons=["copy"],
                                     feedback_options=("Like", "Dislike") if rating else None,
                                     group_consecutive_messages=False, autoscroll=False,
                                     # Case text is shown as written: "$$…$$" in it is not maths.
                                     latex_delimiters=[], elem_classes="casebot-chat")
                # No max_length: the browser would silently cut a long question; the server
                # refuses it with a message instead, and the counter below warns while typing.
                # Closed until the page's load event has set the case (from `?case=`) and the
                # launch: a question typed sooner would go to the default case.
                question = gr.Textbox(placeholder=OPENING, show_label=False, interactive=False,
                                      autofocus=True, submit_btn=True, elem_classes="casebot-question")
                counter = gr.HTML(COUNTER, elem_classes="casebot-counter")
                with gr.Row():
                    # Beside the suggestions rather than the box: on a phone the box keeps the
                    # whole width, and the button shares a line with the first suggestion.
                    clear = gr.Button("New chat", scale=0, min_width=84, size="sm", variant="primary")
                    # Wide enough to read; on a phone they wrap one under the other.
                    tries = [gr.Button(visible=False, size="sm", variant="secondary", scale=1,
                                       min_width=240, elem_classes="casebot-try")
                             for _ in range(SUGGESTIONS)]
            with gr.Column(scale=2, min_width=0, elem_classes="casebot-reader-col"):
                gr.HTML(READER_PANEL)
        # Each session's history lives in server memory: it expires once the session has been
        # idle for settings.session_ttl seconds.
        logs = sessions if sessions is not None else ChatSessions(settings.session_ttl)
        # This session's guide mode (`?mode=guide`, as a course link sets it); the server-wide
        # CASEBOT_MODE=guide applies whatever the session says.
        guide = gr.State(False, time_to_live=settings.session_ttl)
        # The LTI user of a launched chat, read once from the page's own URL (`?lti=`, the signed
        # launch session) when the page loads; None for anyone else.
        launch = gr.State(None, time_to_live=settings.session_ttl)
        if rating:
            # Shown after a rating: an optional comment on the answer just rated.
            rated = gr.State(None, time_to_live=settings.session_ttl)
            with gr.Row(visible=False, elem_classes="casebot-comment") as comment_row:
                # Labelled, so the box still says what it is for once the student types.
                comment = gr.Textbox(placeholder="What was wrong or missing? (optional)",
                                     label="Thanks for rating. Add a comment for your instructor?",
                                     scale=8, max_length=2000, submit_btn="Send")
        channel = "embed" if embed else "chat"

        def answer(text: str, case_id: str, guided: bool, launched: Any,
                   request: Request) -> Iterator[Any]:
            session = _session(request)
            log = logs.log(session)
            if launched is not None and launched.expires < time.time():
                launched = None  # the launch session ran out while the page stayed open
            if settings.access == "lti" and (launched is None or launched.case_id != case_id):
                # A launch opens its own case only: cases are licensed course by course.
                yield text, [*_messages(log), _notice(OTHER_CASE)]
                return
            who = _client(request, launched)
            for box, shown, new_log in respond(bot, text, log, case_id, render, limiter, who, recorder,
                                               "lti" if who.user else channel, guided):
                if new_log is not log:
                    logs.keep(session, new_log)
                yield box, shown

        question.submit(answer, [question, case, guide, launch], [question, chatbot],
                        api_name="ask", concurrency_limit=CONCURRENCY
                        ).then(None, js=SCROLL_TO_ANSWER)
        for button in tries:
            # A suggestion is asked at once, as if typed and sent.
            button.click(answer, [button, case, guide, launch], [question, chatbot],
                         api_visibility="private", concurrency_limit=CONCURRENCY
                         ).then(None, js=SCROLL_TO_ANSWER)

        question.change(None, question, counter, js=COUNT_CHARACTERS, queue=False,
                        api_visibility="private")

        def new_chat(request: Request) -> list[Any]:
            logs.drop(_session(request))
            return []

        clear.click(new_chat, None, chatbot, api_name="clear")
        # The chat's own clear icon starts a new conversation too (not only an empty display).
        chatbot.clear(new_chat, None, None, api_visibility="private")
        if rating and recorder is not None:
            wire_feedback(gr, recorder, chatbot, lambda request: logs.log(_session(request)), rated,
                          comment_row, comment)

        def page_text(case_id: str) -> list[Any]:
            """The header and suggestions of the case shown (a new case: a new conversation)."""
            info = next((c for c in bot.library.cases() if c.case_id == case_id), None)
            found = suggestions.of(info) if info is not None else []
            return [_header(info.title if info is not None else ""),
                    *(gr.update(value=q, visible=True) for q in found),
                    *(gr.update(visible=False) for _ in range(SUGGESTIONS - len(found)))]

        def switch_case(case_id: str, request: Request) -> list[Any]:
            # Another case: a new conversation.
            logs.drop(_session(request))
            return [[], *page_text(case_id)]

        case.input(switch_case, case, [chatbot, header, *tries], api_visibility="private")

        def pick_case(request: Request) -> list[Any]:
            # Listed again on every page load: cases ingested while the server runs appear.
            try:
                fresh = bot.library.cases()
            except StoreError:
                return [gr.update(), gr.update(), gr.update(), None, _open_box(gr), gr.update(),
                        *(gr.update() for _ in tries)]
            ids = [c.case_id for c in fresh]
            wanted = request.query_params.get("case", "") if request else ""
            value = wanted if wanted in ids else _default_case(bot, ids)
            # An embed pinned to a case shows no way to switch to another.
            pinned = embed and wanted in ids
            guided = (request.query_params.get("mode", "") if request else "") == "guide"
            launched = lti_user(request) if lti_user is not None and request is not None else None
            switch = len(fresh) > 1 and not pinned
            # The chat takes the height a hidden case switch leaves (a pinned embed in a portal's
            # short frame), and gives it back when a case ingested since start shows the switch.
            return [gr.update(choices=[(_short_title(c.title), c.case_id) for c in fresh], value=value,
                              visible=switch), gr.update(height=_chat_height(embed, switch)), guided,
                    launched, _open_box(gr), *page_text(value)]

        demo.load(pick_case, None, [case, chatbot, guide, launch, question, header, *tries],
                  api_visibility="private", show_progress="hidden")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo


def _open_box(gr: Any) -> Any:
    """The question box, open for questions once the page knows its case."""
    return gr.update(interactive=True, placeholder=ASK)


def _short_title(title: str) -> str:
    """A case title short enough for the case list on a phone (the whole title is the header)."""
    if len(title) <= SHORT_TITLE:
        return title
    return title[:SHORT_TITLE].rsplit(" ", 1)[0].rstrip(",:;") + "…"


def _chat_height(embed: bool, switch: bool) -> str:
    """The chat's height: the window's less what stands around the chat (the header, the case
    switch when it is shown, the question box, the counter and the suggestions; in
    pixels, measured in Chromium), so that the box and the suggestions are in view without
    scrolling on a laptop's screen; never under _CHAT_MIN_HEIGHT (a short window scrolls instead)."""
    around = (_AROUND_EMBED_CHAT if embed else _AROUND_CHAT) + (_CASE_SWITCH if switch else 0)
    return f"max({_CHAT_MIN_HEIGHT}px, calc(100vh - {around}px))"


def _header(title: str) -> str:
    """The page header: the case's own title (escaped: it comes from the case file)."""
    shown = f"{escape_markdown(title)} · " if title else ""
    return f"# casebot\n{shown}answers come from the case and cite its paragraphs."


def _default_case(bot: CaseBot, ids: list[str]) -> str:
    """The bot's default case; with several and none set, the first (the student picks)."""
    try:
        return bot.default_case()
    except LookupError:
        return ids[0] if ids else ""


def _session(request: Any) -> str:
    """Gradio's random id of the browser session a request belongs to."""
    return str(getattr(request, "session_hash", "") or "") if request is not None else ""


def _client(request: Any, user: "LtiUser | None") -> Client:
    """Who asks in the chat: the LTI user of a launched chat (with its platform and course), else
    the browser session (Gradio's session hash); and its address."""
    host = request.client.host if request is not None and request.client else "unknown"
    session = _session(request)
    if user is None:
        return Client(ip=host, session=session)
    return Client(ip=host, session=session, user=user.user, platform=user.platform, course=user.course)
