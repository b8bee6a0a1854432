"""Prompt templates shipped as package data (`prompts/*.txt`) and the one function that renders them.

Templates use `{name}` placeholders (`{{` and `}}` for literal braces). Rendering fails loudly, with
PromptError, when a template is unknown, a placeholder has no value, or a value has no placeholder:
a silently empty or silently ignored variable is how prompts quietly lose their context.
"""

from __future__ import annotations

import string
from functools import cache
from importlib import resources


class PromptError(ValueError):
    """A template that does not exist or cannot be rendered with the given variables."""


def names() -> list[str]:
    """The names of all shipped templates (file names without `.txt`), sorted."""
    return sorted(entry.name.removesuffix(".txt") for entry in resources.files(__name__).iterdir()
                  if entry.name.endswith(".txt"))


@cache
def template(name: str) -> str:
    """The raw text of template `name`; PromptError lists the known ones when it does not exist."""
    entry = resources.files(__name__).joinpath(f"{name}.txt")
    if not entry.is_file():
        raise PromptError(f"No prompt template {name!r}. Known: {', '.join(names())}.")
    return entry.read_text(encoding="utf-8")


def variables(name: str) -> frozenset[str]:
    """The placeholder names template `name` needs."""
    fields = set()
    for _, field, spec, conversion in string.Formatter().parse(template(name)):
        if field is None:
            continue
        if not field.isidentifier() or spec or conversion:
            raise PromptError(f"Prompt template {name!r} has an unsupported placeholder {{{field}}}; "
                              "use plain {name} placeholders and {{ }} for literal braces.")
        fields.add(field)
    return frozenset(fields)


def render(name: str, **values: str) -> str:
    """Template `name` with every placeholder filled; PromptError on a missing or unused variable."""
    needed = variables(name)
    missing = sorted(needed - values.keys())
    unused = sorted(values.keys() - needed)
    if missing:
        raise PromptError(f"Prompt template {name!r} needs {', '.join(missing)}; not given.")
    if unused:
        raise PromptError(f"Prompt template {name!r} has no placeholder for {', '.join(unused)}.")
    return template(name).format(**{key: str(value) for key, value in values.items()}).strip() + "\n"
