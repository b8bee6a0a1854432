"""The records database: the questions students asked, the answers they got, and their ratings."""

from bot.records.store import AnswerRecord, Recorder, RecordScope, RecordStore

__all__ = ["AnswerRecord", "RecordScope", "RecordStore", "Recorder"]
