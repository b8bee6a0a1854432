"""The Gradio web chat: streamed answers with their cited paragraphs, one history per session."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from bot.answer import Answer
from bot.backends import BackendError
from bot.chain import CaseBot, QuestionError
from bot.conversation import MAX_HISTORY_TURNS, Turn
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


def respond(bot: CaseBot, question: str, turns: list[Turn], case: str,
            render: Callable[[Answer], str] = answer_markdown,
            ) -> Iterator[tuple[str, list[dict[str, str]], list[Turn]]]:
    """Stream one answer: (cleared textbox, chat messages, new history) as the answer grows."""
    gr = _gradio()
    try:
        stream = bot.stream(question, tuple(turns[-MAX_HISTORY_TURNS:]), case)
        messages = [*_messages(turns), {"role": "user", "content": escape_markdown(question)}]
        text = ""
        for piece in stream:
            if isinstance(piece, Answer):
                new_turns = [*turns, Turn("user", question.strip()), Turn("assistant", piece.answer)]
                yield "", [*_messages(new_turns[:-1]),
                           {"role": "assistant", "content": render(piece)}], new_turns
                return
            text += piece
            yield "", [*messages, {"role": "assistant", "content": escape_markdown(text)}], turns
    except QuestionError as error:
        raise gr.Error(str(error)) from None
    except CaseNotFoundError as error:
        raise gr.Error(f"{error} Ask your instructor to ingest it.") from None
    except StoreError:
        raise gr.Error("The case index is not reachable right now. Try again in a moment.") from None
    except BackendError as error:
        raise gr.Error(str(error)) from None


def _messages(turns: list[Turn]) -> list[dict[str, str]]:
    """Chat messages for earlier turns (their citations were shown when they were answered)."""
    return [{"role": t.role, "content": escape_markdown(t.content)} for t in turns]


def build_chat(bot: CaseBot, settings: Settings, embed: bool = False) -> gr.Blocks:
    """The chat page; `embed=True` drops the header for use inside an iframe."""
    from bot.embed import answer_markdown_linked

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
                             feedback_options=None, group_consecutive_messages=False)
        turns = gr.State([])
        with gr.Row():
            question = gr.Textbox(placeholder="Ask about the case…", show_label=False,
                                  scale=8, max_length=2000, autofocus=True, submit_btn=True)
            clear = gr.Button("New chat", scale=1, variant="secondary")
        gr.Examples(EXAMPLES, inputs=question, label="Try")

        def answer(text: str, history: list[Turn], case_id: str) -> Iterator[Any]:
            yield from respond(bot, text, history, case_id, render)

        question.submit(answer, [question, turns, case], [question, chatbot, turns],
                        api_name="ask", concurrency_limit=CONCURRENCY)
        clear.click(lambda: ([], []), None, [chatbot, turns], api_name="clear")
        case.change(lambda: ([], []), None, [chatbot, turns], api_visibility="private")

        def pick_case(request: Any) -> Any:
            wanted = request.query_params.get("case", "") if request else ""
            return gr.update(value=wanted) if wanted in {c.case_id for c in cases} else gr.update()

        # Gradio injects the request only when it can resolve the hint; with postponed
        # annotations and a lazily imported gradio it cannot, so give it the class itself.
        pick_case.__annotations__["request"] = gr.Request

        demo.load(pick_case, None, case, api_visibility="private")
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=64)
    return demo
