"""Answerers: turn a question's evidence into an answer (extractive or generated)."""
