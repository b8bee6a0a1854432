"""Students' thumbs up/down (and an optional comment) on chat answers, kept in the records.

No postponed annotations: Gradio finds a handler's event-data and request arguments by their
annotations, which must be the classes themselves."""

import hashlib
from collections.abc import Callable
from typing import Any

from bot.errors import FeedbackError, UnknownAnswerError
from bot.records import Recorder


def pseudonymous_session(session_hash: str) -> str:
    """A conversation's id for the records: a hash of Gradio's random session id."""
    return hashlib.sha256(f"casebot-session:{session_hash}".encode()).hexdigest()[:32]


def _message_index(index: Any) -> int | None:
    """The chat message a like event names (Gradio sends an int, or a list for a multimodal one)."""
    if isinstance(index, list | tuple) and index:
        index = index[0]
    return index if isinstance(index, int) and not isinstance(index, bool) else None


def unfinished(log: list[dict[str, str]], index: Any) -> bool:
    """Whether a like names a message past the conversation's log: an answer still being written
    (the log gains it only once it is complete) or one of a conversation that has expired."""
    at = _message_index(index)
    return at is not None and at >= len(log)


def rate_answer(recorder: Recorder, log: list[dict[str, str]], index: Any, liked: Any,
                comment: str = "") -> str | None:
    """Keep a thumbs up/down on the answer at chat message `index`; its answer_id, or None."""
    index = _message_index(index)
    if index is None or not 0 <= index < len(log) or liked not in (True, False):
        return None
    answer_id = log[index].get("answer_id", "")
    if not answer_id:
        return None
    recorder.feedback(answer_id, "up" if liked else "down", comment)
    return answer_id


def wire_feedback(gr: Any, recorder: Recorder, chatbot: Any,
                  session_log: Callable[[Any], list[dict[str, str]]], rated: Any,
                  comment_row: Any, comment: Any) -> None:
    """The chat's like event and the comment box that follows a rating; `session_log` gives the
    log of the session a Gradio request belongs to."""

    from gradio import LikeData, Request

    def on_like(data: LikeData, request: Request) -> Any:
        log = session_log(request)
        try:
            answer_id = rate_answer(recorder, log, data.index, data.liked)
        except (UnknownAnswerError, FeedbackError):
            answer_id = None
        except Exception:
            raise gr.Error("Your rating could not be saved right now.") from None
        if answer_id is None:
            if unfinished(log, data.index):
                # Gradio shows the thumbs while the answer streams; say why nothing was kept.
                gr.Warning("Only a finished answer can be rated: rate it again once it is complete.")
            return None, gr.update(visible=False)
        return ({"answer_id": answer_id, "rating": "up" if data.liked else "down"},
                gr.update(visible=True))

    chatbot.like(on_like, None, [rated, comment_row], api_visibility="private")

    def on_comment(text: str, last: dict[str, str] | None) -> Any:
        if last and text.strip():
            try:
                recorder.feedback(last["answer_id"], last["rating"], text)
            except (UnknownAnswerError, FeedbackError) as error:
                raise gr.Error(str(error)) from None
            gr.Info("Thanks: your comment was sent to the instructor.")
        return "", gr.update(visible=False)

    comment.submit(on_comment, [comment, rated], [comment, comment_row], api_visibility="private")
