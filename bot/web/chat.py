"""The Gradio web chat: streamed answers with their cited paragraphs, one history per session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.answer import Answer, Turn
from bot.errors import describe
from bot.rag.chain import CaseBot
from bot.rag.conversation import MAX_HISTORY_TURNS
from bot.settings import Settings, quiet_libraries
from bot.web.render import answer_markdown, escape_markdown

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
    quiet_libraries()
    import gradio as gr

    return gr


def respond(bot: CaseBot, question: str, log: list[dict[str, str]], case: str,
            render: Callable[[Answer], str] = answer_markdown,
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
                answered = {"role": "assistant", "content": piece.answer, "shown": render(piece)}
                new_log = [*log, asked, answered]
                yield "", _messages(new_log), new_log
                return
            text += piece
            yield "", [*shown, {"role": "assistant", "content": escape_markdown(text)}], log
    except Exception as error:
        problem = describe(error)
        if problem is None:
            raise
        raise gr.Error(problem.message) from None


def _message(entry: dict[str, str]) -> dict[str, str]:
    return {"role": entry["role"], "content": entry["shown"]}


def _messages(log: list[dict[str, str]]) -> list[dict[str, str]]:
    """The chat messages of a session log, as they were shown when answered."""
    return [_message(entry) for entry in log]


def build_chat(bot: CaseBot, settings: Settings, embed: bool = False) -> gr.Blocks:
    """The chat page; `embed=True` drops the header for use inside an iframe."""
    from bot.web.embed import answer_markdown_linked

    gr = _gradio()
    render = answer_markdown_linked if embed else answer_markdown
    cases = bot.library.cases()
    choices = [(f"{c.title} ({c.case_id})", c.case_id) for c in cases]
    default = next((c.case_id for c in cases if c.case_id == "xpeng-volkswagen"),
                   cases[0].case_id if cases else "")
    title = next((c.title for c in cases if c.case_id == default), "casebot")

    with gr.Blocks(title="casebot", fill_height=True, fill_width=embed) as demo:
        if not embed:
            gr.Markdown(f"# casebot\n{escape_markdown(title)} · answers come from the case and "
                        "cite its paragraphs.", elem_classes="casebot-header")
        case = gr.Dropdown(choices=choices, value=default, label="Case", visible=len(cases) > 1,
                           interactive=True)
        chatbot = gr.Chatbot(label="casebot", height="70vh" if not embed else "64vh",
                             placeholder="Ask a question about the case.", buttons=["copy"],
                             feedback_options=None, group_consecutive_messages=False,
                             # Case text is shown as written: "$$…$$" in it is not maths.
                             latex_delimiters=[])
        # Each session's history lives in server memory: it expires once the session has been
        # idle for settings.session_ttl seconds (Gradio's default would keep it for ever).
        session_log = gr.State([], time_to_live=settings.session_ttl)
        with gr.Row():
            question = gr.Textbox(placeholder="Ask about the case…", show_label=False,
                                  scale=8, max_length=2000, autofocus=True, submit_btn=True)
            clear = gr.Button("New chat", scale=1, variant="secondary")
        gr.Examples(EXAMPLES, inputs=question, label="Try")

        def answer(text: str, log: list[dict[str, str]], case_id: str) -> Iterator[Any]:
            yield from respond(bot, text, log, case_id, render)

        question.submit(answer, [question, session_log, case], [question, chatbot, session_log],
                        api_name="ask", concurrency_limit=CONCURRENCY)
        clear.click(lambda: ([], []), None, [chatbot, session_log], api_name="clear")
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
