"""Widgets of the Storyboard page that shape a storyboard: the list of storyboards, its
title, ratio and style, and its shots (prompt, template, duration, takes, caption, order).

Every change is saved as it is made (the widgets' callbacks write through
`StoryboardLibrary.save`), so nothing typed is lost by switching pages; a value that cannot
be saved is said next to its widget and kept in the widget until it is fixed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import streamlit as st

from kling.coach import DURATION_USES
from kling.errors import KlingError
from kling.models import ASPECT_RATIOS, DURATIONS
from kling.people import Action
from kling.services import Studio
from kling.storyboards import Storyboard
from kling.storyboards.model import (
    MAX_CAPTION_CHARS, MAX_SHOTS, MAX_STYLE_CHARS, MAX_TAKES, MAX_TITLE_CHARS, MIN_SHOTS,
)
from kling.ui.access import allowed
from kling.ui.text import literal

SELECTED = "sb_selected"
_PROBLEM = "sb_problem"
_NO_TEMPLATE = ""


def _key(board: Storyboard, name: str, shot: str = "") -> str:
    return f"sb_{board.id}_{shot}_{name}" if shot else f"sb_{board.id}_{name}"


def _bound(key: str, saved: Any) -> str:
    """`key`, its widget starting from the saved value. A callback that changes the saved
    value sets the widget's state too, so the widget is given no value of its own."""
    if key not in st.session_state:
        st.session_state[key] = saved
    return key


def keep_problem(place: str, text: str) -> None:
    """Say `text` at `place` on the next run (a callback cannot show it itself)."""
    st.session_state[_PROBLEM] = (place, text)


def save(studio: Studio, board: Storyboard, place: str = "board") -> bool:
    """Save `board`; on failure keep the message for `place` and say False."""
    try:
        studio.storyboards.save(board)
    except KlingError as exc:
        keep_problem(place, str(exc))
        return False
    st.session_state.pop(_PROBLEM, None)
    return True


def show_problem(place: str) -> None:
    """The problem kept for `place`, if any."""
    problem = st.session_state.get(_PROBLEM)
    if problem and problem[0] == place:
        st.error(literal(problem[1]), icon=":material/error:")


# -- the list -------------------------------------------------------------------------------

def _create(studio: Studio) -> None:
    title = st.session_state.get("sb_new_title", "").strip() or "Untitled spot"
    try:
        board = studio.storyboards.create(title, aspect_ratio=st.session_state.get(
            "sb_new_ratio", "16:9"))
    except KlingError as exc:
        keep_problem("list", str(exc))
        return
    st.session_state[SELECTED] = board.id
    st.session_state["sb_new_title"] = ""


def _duplicate(studio: Studio, board_id: str) -> None:
    st.session_state[SELECTED] = studio.storyboards.duplicate(board_id).id


def _delete(studio: Studio, board_id: str) -> None:
    studio.storyboards.delete(board_id)
    st.session_state.pop(SELECTED, None)


def render_list(studio: Studio) -> Storyboard | None:
    """The storyboards to choose from and a new one to start; the one chosen."""
    boards = studio.storyboards.all()
    if not allowed(studio, Action.EDIT):
        return _chosen(studio, boards)
    with st.container(border=True):
        st.text_input("New storyboard", key="sb_new_title", max_chars=MAX_TITLE_CHARS,
                      placeholder="Summer drop teaser")
        st.radio("Ratio of the new storyboard", ASPECT_RATIOS, key="sb_new_ratio",
                 horizontal=True)
        st.button("Create storyboard", icon=":material/add:", on_click=_create,
                  args=(studio,), type="primary" if not boards else "secondary")
        show_problem("list")
    damaged = studio.storyboards.damaged()
    if damaged:
        st.warning(f"{len(damaged)} storyboard file(s) cannot be read and are kept as they "
                   f"are: {literal(', '.join(damaged))}.", icon=":material/warning:")
    board = _chosen(studio, boards)
    if board is None:
        return None
    actions = st.container(horizontal=True)
    actions.button("Duplicate", icon=":material/content_copy:", key="sb_duplicate",
                   on_click=_duplicate, args=(studio, board.id))
    if actions.button("Delete…", icon=":material/delete:", key="sb_delete_ask"):
        st.session_state["sb_confirm_delete"] = board.id
    if st.session_state.get("sb_confirm_delete") == board.id:
        st.warning(f"Delete “{literal(board.title)}”? Its generations stay in History.",
                   icon=":material/delete:")
        yes, no = st.columns(2)
        yes.button("Delete storyboard", type="primary", key="sb_delete_yes",
                   on_click=_delete, args=(studio, board.id))
        no.button("Keep it", key="sb_delete_no",
                  on_click=lambda: st.session_state.pop("sb_confirm_delete", None))
    return board


def _chosen(studio: Studio, boards: list[Storyboard]) -> Storyboard | None:
    if not boards:
        st.caption("No storyboards yet: give the first one a title above."
                   if allowed(studio, Action.EDIT) else "No storyboards yet.")
        return None
    ids = [b.id for b in boards]
    if st.session_state.get(SELECTED) not in ids:
        st.session_state[SELECTED] = ids[0]
    titles = {b.id: b.title for b in boards}
    chosen = st.radio("Storyboards", ids, key=SELECTED,
                      format_func=lambda i: f"{titles[i]} · {len(_by_id(boards, i).shots)} shots")
    return _by_id(boards, chosen)


def _by_id(boards: list[Storyboard], board_id: str) -> Storyboard:
    return next(b for b in boards if b.id == board_id)


# -- the storyboard's own fields ------------------------------------------------------------

def _save_field(studio: Studio, board_id: str, name: str, widget: str) -> None:
    board = studio.storyboards.get(board_id)
    save(studio, dataclasses.replace(board, **{name: st.session_state[widget]}), name)


def render_settings(studio: Studio, board: Storyboard) -> None:
    """Title, aspect ratio and the style line every shot shares."""
    left, right = st.columns([3, 2])
    key = _bound(_key(board, "title"), board.title)
    left.text_input("Title", key=key, max_chars=MAX_TITLE_CHARS,
                    on_change=_save_field, args=(studio, board.id, "title", key))
    key = _bound(_key(board, "ratio"), board.aspect_ratio)
    right.radio("Aspect ratio", ASPECT_RATIOS, key=key, horizontal=True, on_change=_save_field,
                args=(studio, board.id, "aspect_ratio", key))
    show_problem("title")
    key = _bound(_key(board, "style"), board.style)
    st.text_input("Style", key=key, max_chars=MAX_STYLE_CHARS,
                  placeholder="golden hour light, 35 mm film grain, warm colours",
                  help="Appended to every shot's prompt, so that the shots share one look.",
                  on_change=_save_field, args=(studio, board.id, "style", key))
    show_problem("style")


# -- shots --------------------------------------------------------------------------------

def _save_shot(studio: Studio, board_id: str, shot_key: str, name: str, widget: str,
               convert: Any = None) -> None:
    value = st.session_state[widget]
    board = studio.storyboards.get(board_id)
    save(studio, board.replace_shot(shot_key, **{name: convert(value) if convert else value}),
         f"shot-{shot_key}")


def _fill_from_template(studio: Studio, board_id: str, shot_key: str, widget: str) -> None:
    template_id = st.session_state[widget]
    if template_id == _NO_TEMPLATE:
        return
    template = studio.templates.get(template_id)
    board = studio.storyboards.get(board_id)
    changed = board.replace_shot(shot_key, prompt=template.preview(), duration=template.duration,
                                 template_id=template.id, template_version=template.version)
    if save(studio, changed, f"shot-{shot_key}"):
        st.session_state[_key(board, "prompt", shot_key)] = template.preview()
        st.session_state[_key(board, "duration", shot_key)] = template.duration


def _change_shots(studio: Studio, board_id: str, how: str, shot_key: str = "") -> None:
    board = studio.storyboards.get(board_id)
    try:
        changed = {"add": lambda: board.add_shot(),
                   "duplicate": lambda: board.duplicate_shot(shot_key),
                   "remove": lambda: board.remove_shot(shot_key),
                   "up": lambda: board.move_shot(shot_key, -1),
                   "down": lambda: board.move_shot(shot_key, +1)}[how]()
    except ValueError as exc:
        keep_problem("shots", str(exc))
        return
    save(studio, changed, "shots")


def render_shot_fields(studio: Studio, board: Storyboard, number: int) -> None:
    """The fields of shot `number` (1-based) and its order buttons."""
    shot = board.shots[number - 1]
    head = st.container(horizontal=True, vertical_alignment="center")
    head.markdown(f"**Shot {number}**")
    head.button("", icon=":material/arrow_upward:", key=_key(board, "up", shot.key),
                help="Move earlier", disabled=number == 1,
                on_click=_change_shots, args=(studio, board.id, "up", shot.key))
    head.button("", icon=":material/arrow_downward:", key=_key(board, "down", shot.key),
                help="Move later", disabled=number == len(board.shots),
                on_click=_change_shots, args=(studio, board.id, "down", shot.key))
    head.button("", icon=":material/content_copy:", key=_key(board, "dup", shot.key),
                help="Duplicate this shot", disabled=len(board.shots) >= MAX_SHOTS,
                on_click=_change_shots, args=(studio, board.id, "duplicate", shot.key))
    head.button("", icon=":material/delete:", key=_key(board, "remove", shot.key),
                help=f"Remove this shot (a storyboard keeps at least {MIN_SHOTS})",
                disabled=len(board.shots) <= MIN_SHOTS,
                on_click=_change_shots, args=(studio, board.id, "remove", shot.key))
    templates = {t.id: t.name for t in studio.templates.all()}
    key = _key(board, "template", shot.key)
    st.selectbox("Fill from a template", [_NO_TEMPLATE, *templates], key=key,
                 format_func=lambda i: "Type the prompt yourself" if i == _NO_TEMPLATE
                 else templates[i], on_change=_fill_from_template,
                 args=(studio, board.id, shot.key, key))
    key = _bound(_key(board, "prompt", shot.key), shot.prompt)
    st.text_area(f"Shot {number} prompt", key=key, height=80,
                 placeholder="A sneaker splashes into a pool, slow motion, low tracking shot",
                 on_change=_save_shot, args=(studio, board.id, shot.key, "prompt", key))
    duration, takes, caption = st.columns([2, 1.4, 3])
    key = _bound(_key(board, "duration", shot.key), shot.duration)
    duration.radio("Duration", DURATIONS, key=key, horizontal=True, format_func=lambda d: f"{d} s",
                   help=" · ".join(f"{d} s: {DURATION_USES[d]}" for d in DURATIONS),
                   on_change=_save_shot, args=(studio, board.id, shot.key, "duration", key))
    key = _bound(_key(board, "takes", shot.key), shot.takes)
    takes.number_input("Takes", min_value=1, max_value=MAX_TAKES, key=key,
                       help="How many versions to make of this shot (consecutive seeds).",
                       on_change=_save_shot, args=(studio, board.id, shot.key, "takes", key, int))
    key = _bound(_key(board, "caption", shot.key), shot.caption)
    caption.text_input("Caption", key=key, max_chars=MAX_CAPTION_CHARS,
                       placeholder="Optional lower-third text",
                       on_change=_save_shot, args=(studio, board.id, shot.key, "caption", key))
    show_problem(f"shot-{shot.key}")


def render_add_shot(studio: Studio, board: Storyboard) -> None:
    st.button("Add shot", icon=":material/add:", key=_key(board, "add"),
              disabled=len(board.shots) >= MAX_SHOTS,
              help=f"A storyboard has {MIN_SHOTS} to {MAX_SHOTS} shots.",
              on_click=_change_shots, args=(studio, board.id, "add"))
    show_problem("shots")
