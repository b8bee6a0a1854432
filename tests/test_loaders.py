"""Case loaders for .md, .pdf, .docx and .html, their errors on bad files, and several cases at once
through the CLI's commands run in this process (`casebot ingest FOLDER`, `cases list|remove`,
`ask --case`)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from conftest import run_main

from ingest.loaders import LoadError, case_id_for, load_text, read_case
from ingest.paragraphs import parse_case

TITLE = "Acme Robotics Goes Global"
FACTS = [
    "Acme Robotics raised $12 million from the Blue Harbor Fund in March 2021.",
    "The founders, Ana Ruiz and Tom Berg, wanted to build warehouse robots for small retailers.",
    "By 2023 the company sold its robots in nine countries.",
]


def minimal_pdf(lines: list[str]) -> bytes:
    """A valid one-page PDF whose text layer holds `lines` (Helvetica 10 pt, one line each, an
    empty line between them)."""

    def escape(text: str) -> str:
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    shown = " ".join(f"({escape(line)}) Tj T* T*" for line in lines)
    content = f"BT /F1 10 Tf 14 TL 40 750 Td {shown} ET".encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def write_docx(path: Path, title: str, sections: list[tuple[str, list[str]]]) -> Path:
    """A real .docx with a title, headings and body paragraphs, written by python-docx."""
    import docx

    document = docx.Document()
    document.add_heading(title, level=0)
    for heading, paragraphs in sections:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    document.save(str(path))
    return path


def _paragraph_texts(text: str, case_id: str) -> tuple[str, list[str], list[str]]:
    case = parse_case(text, case_id)
    return case.title, [p.text for p in case.paragraphs], case.sections


def test_markdown(tmp_path: Path) -> None:
    path = tmp_path / "acme.md"
    path.write_text(f"# {TITLE}\n\n## The Raise\n\n{FACTS[0]}\n\n{FACTS[1]}\n\n## Growth\n\n"
                    f"- {FACTS[2]}\n", encoding="utf-8")
    title, paragraphs, sections = _paragraph_texts(load_text(path), case_id_for(path))
    assert case_id_for(path) == "acme" and title == TITLE
    assert paragraphs == [TITLE, *FACTS]
    assert sections == ["The Raise", "Growth"]


def test_pdf(tmp_path: Path) -> None:
    path = tmp_path / "Acme Case (2024).pdf"
    path.write_bytes(minimal_pdf([TITLE, *FACTS]))
    assert case_id_for(path) == "acme-case-2024"
    case, _ = read_case(path, "acme-case-2024")
    assert case.title == TITLE and [p.text for p in case.paragraphs] == [TITLE, *FACTS]
    assert [p.pages for p in case.paragraphs] == [(1, 1)] * 4


def test_docx(tmp_path: Path) -> None:
    path = write_docx(tmp_path / "acme.docx", TITLE, [("The Raise", FACTS[:2]), ("Growth", FACTS[2:])])
    case, _ = read_case(path, "acme")
    assert case.title == TITLE and [p.text for p in case.paragraphs] == [TITLE, *FACTS]
    assert case.sections == ["The Raise", "Growth"]
    assert {p.pages for p in case.paragraphs} == {None}


def test_html(tmp_path: Path) -> None:
    path = tmp_path / "acme.html"
    path.write_text(
        f"<!doctype html><html><head><title>ignored head</title><style>p {{color: red}}</style>"
        f"<script>var secret = 'do not index';</script></head><body><h1>{TITLE}</h1>"
        f"<h2>The Raise</h2><p>{FACTS[0]}</p><p>The founders, <b>Ana Ruiz</b> and Tom Berg, wanted "
        f"to build warehouse robots for small retailers.</p><h2>Growth</h2><ul><li>{FACTS[2]}</li>"
        f"</ul><p>Fish &amp; chips &lt;3</p></body></html>", encoding="utf-8")
    text = load_text(path)
    assert "secret" not in text and "color" not in text and "ignored head" not in text
    title, paragraphs, sections = _paragraph_texts(text, "acme")
    assert title == TITLE and paragraphs == [TITLE, *FACTS, "Fish & chips <3"]
    assert sections == ["The Raise", "Growth"]


@pytest.mark.parametrize(("name", "content", "needle"), [
    ("missing.txt", None, "no such file"),
    ("empty.md", b"  \n\n", "empty"),
    ("notes.rtf", b"{\\rtf1 hello}", "unsupported file type"),
    ("latin1.txt", "Caf\xe9 society".encode("latin-1"), "not UTF-8"),
    ("binary.txt", b"abc\x00def", "binary"),
    ("broken.pdf", b"%PDF-1.4\nthis is not a pdf at all", "not a readable PDF"),
    ("scanned.pdf", minimal_pdf([]), "no text"),
    ("broken.docx", b"PK\x03\x04 not really a zip", "not a readable .docx"),
    ("other.docx", None, "not a readable .docx"),  # a real zip, but not a Word document
    ("tags-only.html", b"<html><body><script>x=1</script></body></html>", "no text"),
])
def test_bad_files_raise_load_error(tmp_path: Path, name: str, content: bytes | None,
                                    needle: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    elif name == "other.docx":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("hello.txt", "not a document")
    with pytest.raises(LoadError, match=needle) as error:
        read_case(path, "case")
    assert name in str(error.value) and "\n" not in str(error.value)


def test_a_folder_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(LoadError, match="not a file"):
        load_text(tmp_path)


@pytest.mark.model
def test_several_cases_through_the_cli(tmp_path: Path) -> None:
    folder = tmp_path / "cases"
    folder.mkdir()
    (folder / "acme.md").write_text(f"# {TITLE}\n\n## The Raise\n\n" + "\n\n".join(FACTS) + "\n",
                                    encoding="utf-8")
    (folder / "borealis.pdf").write_bytes(minimal_pdf([
        "Borealis Energy and the Fjord Project",
        "Borealis Energy built a 300 megawatt wind farm in the Fjord region in 2019.",
        "The project cost 450 million euros and was financed by three Nordic banks.",
    ]))
    write_docx(folder / "cedar.docx", "Cedar Foods Rethinks Packaging", [("The Decision", [
        "Cedar Foods switched to compostable packaging in 2022 after customer complaints.",
        "The switch raised packaging costs by 18 percent in the first year."])])
    (folder / "dune.html").write_text(
        "<h1>Dune Airlines Takes Off</h1><p>Dune Airlines launched its first route from Tunis to "
        "Lyon in 2018.</p><p>Its fleet grew to 14 aircraft by 2022.</p>", encoding="utf-8")
    (folder / "README.md").write_text("not a case", encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 garbage")
    data_dir = tmp_path / "data"

    ingest = run_main(data_dir, "ingest", "--quiet", str(folder))
    assert ingest.returncode == 2  # one bad file: reported (bad input), the others still go in
    assert "broken.pdf" in ingest.stderr and "not a readable PDF" in ingest.stderr

    listed = run_main(data_dir, "cases", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    cases = {c["id"]: c for c in json.loads(listed.stdout)}
    assert sorted(cases) == ["acme", "borealis", "cedar", "dune"]
    assert cases["cedar"]["title"] == "Cedar Foods Rethinks Packaging"
    assert cases["acme"]["paragraphs"] == 4

    asked = run_main(data_dir, "ask", "--case", "borealis", "--json", "How much did the project cost?")
    assert asked.returncode == 0, asked.stderr
    answer = json.loads(asked.stdout)
    assert answer["case"] == "borealis" and "450 million euros" in answer["answer"]
    assert all(c["id"].startswith("borealis:") for c in answer["citations"])

    removed = run_main(data_dir, "cases", "remove", "dune")
    assert removed.returncode == 0, removed.stderr
    assert [c["id"] for c in json.loads(run_main(data_dir, "cases", "list", "--json").stdout)] == [
        "acme", "borealis", "cedar"]
    missing = run_main(data_dir, "cases", "remove", "dune")
    assert missing.returncode == 2 and "No case 'dune'" in missing.stderr
    plain = run_main(data_dir, "cases")
    assert plain.returncode == 0 and "borealis\t3 paragraphs" in plain.stdout
