"""The Gradio web chat: streamed answers with their cited paragraphs, one history per session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.answer import Answer
from bot.backends import BackendError
from bot.chain import CaseBot, QuestionError
from bot.conversation import MAX_HISTORY_TURNS, Turn
from bot.records.store import FeedbackError, Recorder, UnknownAnswerError
from bot.render import answer_markdown, escape_markdown
from bot.settings import Settings
from vectorstore.store import CaseNotFoundError, StoreError

if TYPE_CHECKING:
    import gradio as gr

CONCURRENCY = 4
EXAMPLES = [
    "How much did Volkswagen invest in XPeng?",
    "When was the partnership announced?",
    "Why did Volkswagen need a partner in China?",
    "What did XPeng gain from the deal?",
]
CSS = """
.casebot-header h1 { margin-bottom: 0.2em; }
.casebot-header p { margin-top: 0; color: var(--body-text-color-subdued); }
"""


def _gradio() -> Any:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    import gradio as gr

    return gr


def respond(bot: CaseBot, question: str, log: list[dict[str, str]], case: str,
            render: Callable[[Answer], str] = answer_markdown, recorder: Recorder | None = None,
            channel: str = "chat", session_id: str = "",
            ) -> Iterator[tuple[str, list[dict[str, str]], list[dict[str, str]]]]:
    """Stream one answer: (cleared textbox, chat messages, new session log) as the answer grows.

    The session log keeps each message twice: as text for the conversation history, and as shown
    (an answer with its cited paragraphs), so earlier answers keep their sources on screen.
    """
    gr = _gradio()
    history = tuple(Turn(m["role"], m["content"]) for m in log)[-MAX_HISTORY_TURNS:]
    try:
        stream = bot.stream(question, history, case)
        asked = {"role": "user", "content": question.strip(), "shown": escape_markdown(question)}
        shown = [*_messages(log), _message(asked)]
        text = ""
        for piece in stream:
            if isinstance(piece, Answer):
                if recorder is not None:
                    piece = recorder.record(piece, question, history, channel, session_id)
                answered = {"role": "assistant", "content": piece.answer, "shown": render(piece),
                            "answer_id": piece.answer_id}
                new_log = [*log, asked, answered]
                yield "", _messages(new_log), new_log
                return
            text += piece
            yield "", [*shown, {"role": "assistant", "content": escape_markdown(text)}], log
    except QuestionError as error:
        raise gr.Error(str(error)) from None
    except CaseNotFoundError as error:
        raise gr.Error(f"{error} Ask your instructor to ingest it.") from None
    except StoreError:
        raise gr.Error("The case index is not reachable right now. Try again in a moment.") from None
    except BackendError as error:
        raise gr.Error(str(error)) from None


def _message(entry: dict[str, str]) -> dict[str, str]:
    return {"role": entry["role"], "content": entry["shown"]}


def _messages(log: list[dict[str, str]]) -> list[dict[str, str]]:
    """The chat messages of a session log, as they were shown when answered."""
    return [_message(entry) for entry in log]


def pseudonymous_session(session_hash: str) -> str:
    """A conversation's id for the records: a hash of Gradio's random session id."""
    import hashlib

    return hashlib.sha256(f"casebot-session:{session_hash}".encode()).hexdigest()[:32]


def rate_answer(recorder: Recorder, log: list[dict[str, str]], index: Any, liked: Any,
                comment: str = "") -> str | None:
    """Keep a thumbs up/down on the answer at chat message `index`; its answer_id, or None."""
    if isinstance(index, list | tuple):
        index = index[0]
    if not isinstance(index, int) or not 0 <= index < len(log) or liked not in (True, False):
        return None
    answer_id = log[index].get("answer_id", "")
    if not answer_id:
        return None
    recorder.feedback(answer_id, "up" if liked else "down", comment)
    return answer_id


def wire_feedback(gr: Any, recorder: Recorder, chatbot: Any, session_log: Any, rated: Any,
                  comment_row: Any, comment: Any) -> None:
    """The chat's like event and the comment box that follows a rating."""

    def on_like(log: list[dict[str, str]], data: Any) -> Any:
        try:
            answer_id = rate_answer(recorder, log, data.index, data.liked)
        except (UnknownAnswerError, FeedbackError):
            answer_id = None
        except Exception:
            raise gr.Error("Your rating could not be saved right now.") from None
        if answer_id is None:
            return None, gr.update(visible=False)
        return ({"answer_id": answer_id, "rating": "up" if data.liked else "down"},
                gr.update(visible=True))

    on_like.__annotations__["data"] = gr.LikeData
    chatbot.like(on_like, [session_log], [rated, comment_row], api_visibility="private")

    def on_comment(text: str, last: dict[str, str] | None) -> Any:
        if last and text.strip():
            try:
                recorder.feedback(last["answer_id"], last["rating"], text)
            except (UnknownAnswerError, FeedbackError) as error:
                raise gr.Error(str(error)) from None
            gr.Info("Thanks: your comment was sent to the instructor.")
        return "", gr.update(visible=False)

    comment.submit(on_comment, [comment, rated], [comment, comment_row], api_visibility="private")


def build_chat(bot: CaseBot, settings: Settings, embed: bool = False,
               recorder: Recorder | None = None) -> gr.Blocks:
    """The chat page; `embed=True` drops the header for use inside an iframe; with records on,
    each answer has thumbs up/down (and an optional comment) kept by `recorder`."""
    from bot.embed import answer_markdown_linked

    gr = _gradio()
    render = answer_markdown_linked if embed else answer_markdown
    cases = bot.library.cases()
    choices = [(f"{c.title} ({c.case_id})", c.case_id) for c in cases]
    default = next((c.case_id for c in cases if c.case_id == "xpeng-volkswagen"),
                   cases[0].case_id if cases else "")
    title = next((c.title for c in cases if c.case_id == default), "casebot")

    rating = recorder is not None and recorder.enabled
    with gr.Blocks(title="casebot", fill_height=True, fill_width=embed) as demo:
        if not embed:
            gr.Markdown(f"# casebot\n{escape_markdown(title)} · answers come from the case and "
                        "cite its paragraphs.", elem_classes="casebot-header")
        case = gr.Dropdown(choices=choices, value=default, label="Case", visible=len(cases) > 1,
                           interactive=True)
        chatbot = gr.Chatbot(label="casebot", height="70vh" if not embed else "64vh",
                             placeholder="Ask a question about the case.", buttons=["copy"],
                             feedback_options=("Like", "Dislike") if rating else None,
                             group_consecutive_messages=False,
                             # Case text is shown as written: "$$…$$" in it is not maths.
                             latex_delimiters=[])
        # Each session's history lives in server memory: it expires once the session has been
        # idle for settings.session_ttl seconds (Gradio's default would keep it for ever).
        session_log = gr.State([], time_to_live=settings.session_ttl)
        with gr.Row():
            question = gr.Textbox(placeholder="Ask about the case…", show_label=False,
                                  scale=8, max_length=2000, autofocus=True, submit_btn=True)
            clear = gr.Button("New chat", scale=1, variant="secondary")
        if rating:
            # Shown after a rating: an optional comment on the answer just rated.
            rated = gr.State(None, time_to_live=settings.session_ttl)
            with gr.Row(visible=False, elem_classes="casebot-comment") as comment_row:
                comment = gr.Textbox(placeholder="What was wrong or missing? (optional)",
                                     show_label=False, scale=8, max_length=2000, submit_btn="Send")
        gr.Examples(EXAMPLES, inputs=question, label="Try")
        channel = "embed" if embed else "chat"

        def answer(text: str, log: list[dict[str, str]], case_id: str, request: Any) -> Iterator[Any]:
            session = pseudonymous_session(getattr(request, "session_hash", "") or "")
            yield from respond(bot, text, log, case_id, render, recorder, channel, session)

        answer.__annotations__["request"] = gr.Request

        question.submit(answer, [question, session_log, case], [question, chatbot, session_log],
                        api_name="ask", concurrency_limit=CONCURRENCY)
        clear.click(lambda: ([], []), None, [chatbot, session_log], api_name="clear")
        if rating and recorder is not None:
            wire_feedback(gr, recorder, chatbot, session_log, rated, comment_row, comment)
        case.change(lambda: ([], []), None, [chatbot, session_log], api_visibility="private")

        def pick_case(request: Any) -> Any:
            wanted = request.query_params.get("case", "") if request else ""
            return gr.update(value=wanted) if wanted in {c.case_id for c in cases} else gr.update()

        # Gradio injects the request only when it can resolve the hint; with postponed
        # annotations and a lazily imported gradio it cannot, so give it the class itself.
        pick_case.__annotations__["request"] = gr.Request

        demo.load(pick_case, None, case, api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo
