"""The rules a template meets before it is saved: required fields, lengths, a known
category, a duration and aspect ratio the model takes, and variables matching the body."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import ASPECT_RATIOS, DURATIONS, MAX_PROMPT_CHARS
from ..errors import TemplateError
from .model import CATEGORIES, Template, is_variable_name
from ..wording import join_names, quote

MAX_NAME_CHARS = 80
MAX_DESCRIPTION_CHARS = 500
MAX_VARIABLES = 20
MAX_HINT_CHARS = 200
MAX_TAGS = 12
MAX_TAG_CHARS = 30
DURATION_PROBLEM = "Duration must be 5 or 10 seconds."


def _check_variables(template: Template, used: Sequence[str]) -> str | None:
    problems = []
    names = [variable.name for variable in template.variables]
    if len(names) > MAX_VARIABLES:
        # Each of hundreds of names would add its own sentence: this one says enough.
        return f"Use at most {MAX_VARIABLES} variables; this template declares {len(names)}."
    for name in dict.fromkeys(names):
        if not is_variable_name(name):
            problems.append(f"'{quote(name)}' is not a valid variable name: use letters, "
                            "digits and underscores, starting with a letter.")
        elif names.count(name) > 1:
            problems.append(f"Variable '{name}' is declared twice.")
    undeclared = [name for name in used if name not in names]
    if undeclared:
        problems.append("The body uses " + join_names([f"{{{n}}}" for n in undeclared])
                        + " without declaring " + ("it." if len(undeclared) == 1 else "them."))
    unused = [name for name in dict.fromkeys(names) if name not in used]
    if unused:
        problems.append("Declared but not used in the body: "
                        + join_names([quote(name) for name in unused]) + ".")
    for variable in template.variables:
        if len(variable.hint) > MAX_HINT_CHARS:
            problems.append(f"The hint of '{quote(variable.name)}' is longer than "
                            f"{MAX_HINT_CHARS} characters.")
        if variable.default and len(variable.default) > MAX_PROMPT_CHARS:
            problems.append(f"The default of '{quote(variable.name)}' is longer than "
                            f"{MAX_PROMPT_CHARS:,} characters.")
    return " ".join(problems) or None


def validate_template(template: Template, taken_names: Iterable[str] = ()) -> dict[str, str]:
    """Every problem with a template, as {field: message}; empty when it can be saved.

    `taken_names` are the names of the other templates of the library: names are unique
    regardless of case.
    """
    problems: dict[str, str] = {}
    name = template.name.strip()
    if not name:
        problems["name"] = "Name is required."
    elif len(name) > MAX_NAME_CHARS:
        problems["name"] = f"Name is {len(name)} characters; keep it to {MAX_NAME_CHARS}."
    elif name.casefold() in {taken.strip().casefold() for taken in taken_names}:
        problems["name"] = f"A template named '{name}' already exists: choose another name."
    if template.category not in CATEGORIES:
        problems["category"] = f"Category must be one of: {', '.join(CATEGORIES)}."
    if len(template.description) > MAX_DESCRIPTION_CHARS:
        problems["description"] = (f"Description is {len(template.description)} characters; "
                                   f"keep it to {MAX_DESCRIPTION_CHARS}.")
    if not template.body.strip():
        problems["body"] = "Body is empty: write the prompt, with {variables} where values go."
    elif len(template.body) > MAX_PROMPT_CHARS:
        problems["body"] = (f"Body is {len(template.body):,} characters; a prompt can be at "
                            f"most {MAX_PROMPT_CHARS:,}.")
    else:
        try:
            used = template.placeholders()
        except TemplateError as exc:
            problems["body"] = exc.message
        else:
            variable_problem = _check_variables(template, used)
            if variable_problem:
                problems["variables"] = variable_problem
    if template.duration not in DURATIONS:
        problems["duration"] = DURATION_PROBLEM
    if template.aspect_ratio not in ASPECT_RATIOS:
        problems["aspect_ratio"] = "Aspect ratio must be 16:9 (landscape) or 9:16 (portrait)."
    if len(template.tags) > MAX_TAGS:
        problems["tags"] = f"Use at most {MAX_TAGS} tags."
    elif any(len(tag) > MAX_TAG_CHARS for tag in template.tags):
        problems["tags"] = f"Keep each tag to {MAX_TAG_CHARS} characters."
    return problems
