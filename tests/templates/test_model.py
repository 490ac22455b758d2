"""Templates and their variables: placeholders, rendering, tags."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kling.errors import KlingError
from kling.errors import TemplateError
from kling.templates.model import TemplateVariable, normalise_tags, sync_variables

from .support import make

def test_render_uses_defaults_when_values_are_missing_or_blank():
    template = make(variables=[TemplateVariable("product", "red mug", "the product"),
                               TemplateVariable("surface", "a table", "")])
    expected = "A red mug spinning slowly on a table, camera orbits, smooth slow motion"
    assert template.render({}) == expected
    assert template.render() == expected
    assert template.render({"product": "  ", "surface": ""}) == expected


def test_render_uses_given_values_trimmed():
    template = make(variables=[TemplateVariable("product", "red mug"),
                               TemplateVariable("surface", "a table")])
    assert template.render({"product": " blue vase ", "surface": "marble", "extra": "x"}) == (
        "A blue vase spinning slowly on marble, camera orbits, smooth slow motion")


def test_render_missing_variable_without_default_names_it_and_its_hint():
    template = make(variables=[TemplateVariable("product", None, "What you sell"),
                               TemplateVariable("surface", "a table")])
    with pytest.raises(TemplateError) as caught:
        template.render({})
    assert str(caught.value) == "Fill in 'product' (What you sell): it has no default."
    assert isinstance(caught.value, KlingError) and caught.value.kind == "template"


def test_render_names_every_missing_variable():
    with pytest.raises(TemplateError) as caught:
        make().render({})
    assert str(caught.value) == "Fill in 'product' and 'surface': they have no default."


def test_blank_default_means_no_default():
    assert TemplateVariable("x", "   ").default is None
    with pytest.raises(TemplateError):
        make("{x} waves", [TemplateVariable("x", "")]).render({})


def test_literal_braces_and_repeated_placeholders():
    template = make("{{brand}} {x} and {x} }}{{ {{{x}}}", [TemplateVariable("x", "go")])
    assert template.render({}) == "{brand} go and go }{ {go}"
    assert template.placeholders() == ("x",)


def test_values_with_braces_are_inserted_literally():
    template = make("say {x}", [TemplateVariable("x")])
    assert template.render({"x": "{y} }}"}) == "say {y} }}"


def test_preview_keeps_unfilled_placeholders_visible():
    template = make(variables=[TemplateVariable("product", "red mug"),
                               TemplateVariable("surface")])
    assert template.preview() == (
        "A red mug spinning slowly on {surface}, camera orbits, smooth slow motion")


def test_placeholders_in_order_of_first_use():
    assert make("{b} {a} {b} {c_1}").placeholders() == ("b", "a", "c_1")


@pytest.mark.parametrize("body, fragment", [
    ("a {x", "never closed"),
    ("a x}", "no opening"),
    ("{1x} waves", "'{1x}'"),
    ("{a b} waves", "'{a b}'"),
    ("{} waves", "empty placeholder"),
    ("{a{b}} waves", "never closed"),
    ("{a-b}", "not a valid variable name"),
])
def test_malformed_body_is_a_clear_error(body, fragment):
    with pytest.raises(TemplateError, match="(?i)" + fragment.replace("{", r"\{")
                       .replace("}", r"\}")):
        make(body, variables=()).render({})


def escape(text: str) -> str:
    return text.replace("{", "{{").replace("}", "}}")


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=12),
                          st.sampled_from(["a", "b", "subject_1", "Place"]),
                          st.text(max_size=12).filter(str.strip)),
                max_size=6),
       st.text(max_size=12))
def test_render_property_literal_text_and_values_come_out_verbatim(parts, tail):
    """Any literal text (braces escaped) and any values render exactly as written."""
    body = "".join(escape(text) + "{" + name + "}" for text, name, _ in parts) + escape(tail)
    values: dict[str, str] = {}
    for _, name, value in parts:
        values.setdefault(name, value.strip())
    expected = "".join(text + values[name] for text, name, _ in parts) + tail
    assert make(body).render(values) == expected


def test_sync_variables_keeps_known_definitions_and_adds_new_ones():
    known = (TemplateVariable("a", "A", "hint a"), TemplateVariable("gone", "G"))
    assert sync_variables("{b} {a}", known) == (TemplateVariable("b"), known[0])


def test_tags_are_one_tag_whatever_their_case_and_spacing():
    assert normalise_tags(["TikTok", " tiktok ", "Behind  the SCENES", "", "  "]) == (
        "tiktok", "behind the scenes")
