"""SQuAD-format articles as casebot cases: one case text and one question set per article.

An article becomes a case file whose first line is its title (¶1) and whose paragraphs are its
contexts, separated by blank lines, so context i is ¶(i + 2). A question's gold paragraph is the
context holding it; `answers[].text` are its gold facts; `is_impossible` questions are the
unanswerable ones. Used by `benchmarks/generality.py` and `training/train_answerer.py`.
"""

from __future__ import annotations

import json
import re
import string
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FIRST_CONTEXT = 2  # ¶1 is the title line
_ARTICLES = re.compile(r"\b(a|an|the)\b")


@dataclass(frozen=True)
class SquadQuestion:
    """One question of an article, with where its answer is."""

    id: str
    question: str
    paragraph: int
    answers: tuple[str, ...]
    answerable: bool


@dataclass(frozen=True)
class SquadArticle:
    """One article: its case id, the case text, the paragraph texts and its questions."""

    case_id: str
    title: str
    contexts: tuple[str, ...]
    questions: tuple[SquadQuestion, ...]

    def case_text(self) -> str:
        """The case file: the title line, then one paragraph per context."""
        return "\n\n".join([self.title, *(" ".join(c.split()) for c in self.contexts)]) + "\n"


def case_id_of(title: str) -> str:
    """A valid case id for an article title ("Frédéric_Chopin" -> "squad-frederic-chopin")."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    return "squad-" + re.sub(r"[^a-z0-9]+", "-", folded).strip("-")[:50].strip("-")


def load_articles(path: Path) -> list[SquadArticle]:
    """The articles of a SQuAD (1.1 or 2.0) JSON file, in file order."""
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    articles = []
    for article in data["data"]:
        title = str(article["title"]).replace("_", " ")
        contexts = []
        questions = []
        for index, paragraph in enumerate(article["paragraphs"]):
            contexts.append(str(paragraph["context"]))
            for qa in paragraph["qas"]:
                impossible = bool(qa.get("is_impossible", False))
                answers = tuple(dict.fromkeys(str(a["text"]) for a in qa.get("answers", [])))
                questions.append(SquadQuestion(str(qa["id"]), str(qa["question"]).strip(),
                                               index + FIRST_CONTEXT, answers,
                                               not impossible and bool(answers)))
        articles.append(SquadArticle(case_id_of(str(article["title"])), title, tuple(contexts),
                                     tuple(questions)))
    return articles


def normalize_answer(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation or articles, single spaces."""
    folded = unicodedata.normalize("NFKC", text).lower()
    folded = "".join(" " if ch in string.punctuation or unicodedata.category(ch)[0] in "PS" else ch
                     for ch in folded)
    return " ".join(_ARTICLES.sub(" ", folded).split())


def contains_answer(text: str, answers: tuple[str, ...]) -> bool:
    """Whether `text` holds one of the gold answers (SQuAD-normalised, on word boundaries)."""
    haystack = f" {normalize_answer(text)} "
    return any(f" {normalize_answer(a)} " in haystack for a in answers if normalize_answer(a))


def write_case(article: SquadArticle, folder: Path) -> Path:
    """Write the article as a case file `folder/<case id>.txt` and return its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{article.case_id}.txt"
    text = article.case_text()
    if not path.exists() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")
    return path


def open_articles(articles: list[SquadArticle], work_dir: Path, progress: bool = True) -> Any:
    """A case library in `work_dir/store` holding every article as a case (ingested once: an
    unchanged article is not embedded again)."""
    from ingest.pipeline import ingest_file
    from vectorstore.embeddings import SentenceEmbeddings
    from vectorstore.store import CaseLibrary, open_client

    library = CaseLibrary(open_client(work_dir / "store"), SentenceEmbeddings())
    for article in articles:
        ingest_file(write_case(article, work_dir / "cases"), library, progress=progress)
    return library
