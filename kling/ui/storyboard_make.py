"""Widgets of the Storyboard page that make the spot: the cost and **Generate all shots**,
each shot's takes as they finish (one picked), **Assemble**, and the delivery formats.

Takes, assembly and delivery run in the background; the parts that show them refresh on
their own (`st.fragment(run_every=...)`) only while something of theirs is still running.
"""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import streamlit as st
from PIL import Image

from kling.assembly import FORMATS, MODES, frame_at, preview_with_safe_zones, zip_deliverables
from kling.assembly.deliverables import slug
from kling.assembly.end_card import END_CARD_MAX_SECONDS, END_CARD_MIN_SECONDS
from kling.assembly.reframe import crop_window
from kling.assembly.timeline import MAX_CROSSFADE_SECONDS
from kling.billing import POSSIBLY_BILLED
from kling.errors import KlingError
from kling.history import HistoryQuery
from kling.services import Studio
from kling.storyboards import EndCardPlan, Storyboard, Take, pick, queue_takes, takes_by_shot
from kling.storyboards.model import MAX_CAPTION_CHARS, MAX_TITLE_CHARS
from kling.ui.storyboard_edit import keep_problem, render_shot_fields, save, show_problem
from kling.ui.text import literal
from kling.ui.video import play_video

#: Seconds between two refreshes of a part whose work is still running.
REFRESH_SECONDS = 2.0
MUSIC_TYPES = ["mp3", "wav", "m4a"]
LOGO_TYPES = ["png", "jpg", "jpeg"]
_MODE_LABELS = {"crop": "Crop (move the focus)", "blur": "Fit with a blurred background"}


def _takes(studio: Studio, board: Storyboard) -> dict[str, list[Take]]:
    """Every take of the board's shots: its own rows alone, removed ones too."""
    mine = HistoryQuery(storyboards=(board.id,), include_hidden=True)
    return takes_by_shot(studio.history.query(mine), board)


# -- generating -----------------------------------------------------------------------------

def _queue(studio: Studio, board: Storyboard, owner: str, shot_keys: list[str]) -> None:
    shots = [board.shot(k) for k in shot_keys]
    try:
        jobs = queue_takes(board, studio.queue, owner, shots=shots)
    except (KlingError, OSError) as exc:
        st.session_state["sb_generate_problem"] = str(exc)
        return
    st.session_state.pop("sb_generate_problem", None)
    st.session_state.pop(f"sb_confirm_{board.id}", None)
    st.toast(f"Queued {len(jobs)} takes.", icon=":material/movie:")


def render_generate_all(studio: Studio, board: Storyboard, owner: str) -> None:
    """The total cost, then **Generate all shots** behind a confirmation that names it."""
    seconds = board.takes_seconds()
    takes = sum(s.takes for s in board.shots)
    cost = studio.estimate_cost(seconds)
    st.caption(f"{len(board.shots)} shots · {takes} takes · {seconds} s of video · about "
               f"${cost:,.2f} · the spot lasts about {board.seconds()} s before crossfades "
               "and end card.")
    confirm = f"sb_confirm_{board.id}"
    if st.button("Generate all shots", type="primary", icon=":material/movie:",
                 key=f"sb_generate_{board.id}"):
        st.session_state[confirm] = True
    if st.session_state.get(confirm):
        with st.container(border=True):
            st.markdown(f"This queues **{takes} takes** ({seconds} s of video), about "
                        f"**${cost:,.2f}**.")
            yes, no = st.columns(2)
            yes.button(f"Queue {takes} takes (${cost:,.2f})", type="primary",
                       key=f"sb_generate_yes_{board.id}", on_click=_queue,
                       args=(studio, board, owner, [s.key for s in board.shots]))
            no.button("Cancel", key=f"sb_generate_no_{board.id}",
                      on_click=lambda: st.session_state.pop(confirm, None))
    problem = st.session_state.get("sb_generate_problem")
    if problem:
        st.error(literal(problem), icon=":material/error:")


# -- one shot and its takes -----------------------------------------------------------------

def _pick(studio: Studio, board_id: str, shot_key: str, take_id: str) -> None:
    board = studio.storyboards.get(board_id)
    save(studio, board.replace_shot(shot_key, picked=take_id), f"shot-{shot_key}")


def _take_label(take: Take) -> str:
    if take.possibly_billed:
        return f":orange-badge[Failed · {POSSIBLY_BILLED}]"
    return {"succeeded": ":green-badge[Ready]", "failed": ":red-badge[Failed]",
            "pending": ":blue-badge[Generating]",
            "interrupted": f":orange-badge[{POSSIBLY_BILLED}]"}.get(take.status, take.status)


def render_shots(studio: Studio, board: Storyboard, owner: str) -> None:
    """Every shot in order, its takes found in the history once for the whole board."""
    takes = _takes(studio, board)
    for number in range(1, len(board.shots) + 1):
        _render_shot(studio, board, number, owner, takes[board.shots[number - 1].key])


def _render_shot(studio: Studio, board: Storyboard, number: int, owner: str,
                 made: list[Take]) -> None:
    """Shot `number`: its fields, its takes (refreshing while any is being made) and the
    button that makes this shot again, leaving the others alone."""
    shot = board.shots[number - 1]
    with st.container(border=True):
        fields, takes_col = st.columns([3, 2], gap="medium")
        with fields:
            render_shot_fields(studio, board, number)
        with takes_col:
            running = any(t.status == "pending" for t in made)

            @st.fragment(run_every=REFRESH_SECONDS if running else None)
            def takes_panel() -> None:
                current = studio.storyboards.get(board.id)
                takes = _takes(studio, current)[shot.key]
                _render_takes(studio, current, current.shot(shot.key), takes)
                if running and not any(t.status == "pending" for t in takes):
                    st.rerun(scope="app")  # the last take came: the page stops refreshing

            takes_panel()
            st.button(f"Generate shot {number} again" if made
                      else f"Generate shot {number}", icon=":material/replay:",
                      key=f"sb_shot_generate_{shot.key}",
                      help=f"{shot.takes} take(s), about "
                           f"${studio.estimate_cost(int(shot.duration) * shot.takes):,.2f}",
                      on_click=_queue, args=(studio, board, owner, [shot.key]))


def _render_takes(studio: Studio, board: Storyboard, shot, takes: list[Take]) -> None:
    if not takes:
        st.caption("No takes yet.")
        return
    chosen = pick(shot, takes)
    for take in takes[:4]:
        st.markdown(f"{_take_label(take)} seed {take.seed if take.seed is not None else '—'}"
                    + (" · :violet-badge[Picked]" if take.id == chosen else ""))
        if take.usable:
            play_video(studio.archive, take.id, None)
            if take.id != chosen:
                st.button("Use this take", key=f"sb_pick_{shot.key}_{take.id}",
                          icon=":material/check:", on_click=_pick,
                          args=(studio, board.id, shot.key, take.id))
    if len(takes) > 4:
        st.caption(f"{len(takes) - 4} older take(s) are in History.")


# -- assembling -----------------------------------------------------------------------------

def _save_card(studio: Studio, board_id: str) -> None:
    board = studio.storyboards.get(board_id)
    state = st.session_state
    old = board.end_card or EndCardPlan()
    card = dataclasses.replace(old, title=state.get(f"sb_card_title_{board_id}", ""),
                               tagline=state.get(f"sb_card_tagline_{board_id}", ""),
                               seconds=float(state.get(f"sb_card_seconds_{board_id}", 2.0)))
    save(studio, dataclasses.replace(
        board, end_card=card, crossfade=float(state.get(f"sb_crossfade_{board_id}", 0.5))),
        "assembly")


def _keep_logo(studio: Studio, board_id: str) -> None:
    upload = st.session_state.get(f"sb_logo_{board_id}")
    if upload is None:
        return
    try:
        name = studio.storyboards.save_logo(board_id, upload.getvalue(), upload.name)
    except KlingError as exc:
        keep_problem("assembly", str(exc))
        return
    board = studio.storyboards.get(board_id)
    save(studio, dataclasses.replace(board, end_card=dataclasses.replace(
        board.end_card or EndCardPlan(), logo=name)), "assembly")


def _assemble(studio: Studio, board_id: str) -> None:
    board = studio.storyboards.get(board_id)
    music = st.session_state.get(f"sb_music_{board_id}")
    try:
        studio.spots.assemble(board, _takes(studio, board),
                              music=music.getvalue() if music is not None else None,
                              music_name=music.name if music is not None else "")
    except KlingError as exc:
        st.session_state[f"sb_assemble_problem_{board_id}"] = str(exc)
    else:
        st.session_state.pop(f"sb_assemble_problem_{board_id}", None)


def render_assembly(studio: Studio, board: Storyboard) -> None:
    """Crossfade, end card and music, **Assemble**, and the spot when it is made."""
    card = board.end_card or EndCardPlan()
    left, right = st.columns(2, gap="medium")
    with left:
        st.slider("Crossfade (s)", 0.0, MAX_CROSSFADE_SECONDS, float(board.crossfade), 0.1,
                  key=f"sb_crossfade_{board.id}", help="0 is a hard cut between shots.",
                  on_change=_save_card, args=(studio, board.id))
        st.file_uploader("Music (MP3, WAV or M4A)", type=MUSIC_TYPES,
                         key=f"sb_music_{board.id}",
                         help="Trimmed to the spot's length, with a fade-out.")
    with right:
        st.text_input("End card title", value=card.title, key=f"sb_card_title_{board.id}",
                      max_chars=MAX_TITLE_CHARS, placeholder="Leave empty for no end card",
                      on_change=_save_card, args=(studio, board.id))
        st.text_input("End card tagline", value=card.tagline,
                      key=f"sb_card_tagline_{board.id}", max_chars=MAX_CAPTION_CHARS,
                      on_change=_save_card, args=(studio, board.id))
        st.slider("End card (s)", END_CARD_MIN_SECONDS, END_CARD_MAX_SECONDS,
                  float(card.seconds), 0.5, key=f"sb_card_seconds_{board.id}",
                  on_change=_save_card, args=(studio, board.id))
        st.file_uploader("Logo (PNG or JPEG)", type=LOGO_TYPES, key=f"sb_logo_{board.id}",
                         on_change=_keep_logo, args=(studio, board.id))
        if card.logo:
            st.caption(f"Logo: {literal(card.logo)}")
    show_problem("assembly")
    st.button("Assemble", type="primary", icon=":material/movie_edit:",
              key=f"sb_assemble_{board.id}", on_click=_assemble, args=(studio, board.id),
              disabled=studio.spots.busy())
    problem = st.session_state.get(f"sb_assemble_problem_{board.id}")
    if problem:
        st.error(literal(problem), icon=":material/error:")
    _follow(studio, board, "assemble")


def _follow(studio: Studio, board: Storyboard, kind: str) -> None:
    task = studio.spots.latest(board.id, kind)
    live = task is not None and not task.finished

    @st.fragment(run_every=REFRESH_SECONDS if live else None)
    def progress() -> None:
        current = studio.spots.latest(board.id, kind)
        if current is not None and not current.finished:
            st.progress(current.progress, text=("Assembling the spot…" if kind == "assemble"
                                                 else "Making the delivery formats…"))
        elif current is not None and current.status == "failed":
            st.error(literal(current.error), icon=":material/error:")
        if live and (current is None or current.finished):
            st.rerun(scope="app")

    progress()
    if kind == "assemble":
        spot = studio.storyboards.get(board.id).assembled
        if spot and studio.archive.exists(spot) and (task is None or task.finished):
            st.markdown("**The spot**")
            player, _ = st.columns([2, 1])
            with player:
                play_video(studio.archive, spot, None)
            row = studio.history.get(spot)
            if row:
                player.caption(f"{float(row.get('video_duration') or 0):.1f} s · kept in History "
                           f"as {literal(spot)}")


# -- delivering -----------------------------------------------------------------------------

def _framing(board: Storyboard, fmt: str) -> tuple[str, tuple[float, float]]:
    state = st.session_state
    return (state.get(f"sb_mode_{board.id}_{fmt}", "crop"),
            (float(state.get(f"sb_fx_{board.id}_{fmt}", 0.5)),
             float(state.get(f"sb_fy_{board.id}_{fmt}", 0.5))))


def _deliver(studio: Studio, board_id: str, formats: list[str]) -> None:
    board = studio.storyboards.get(board_id)
    try:
        studio.spots.deliver(board, {fmt: _framing(board, fmt) for fmt in formats})
    except KlingError as exc:
        st.session_state[f"sb_deliver_problem_{board_id}"] = str(exc)
    else:
        st.session_state.pop(f"sb_deliver_problem_{board_id}", None)


def _preview(studio: Studio, spot: str, fmt: str, framing) -> None:
    """A frame of the spot as this format would show it, its safe zones drawn over it."""
    frame = frame_at(studio.archive.path_for(spot), 1.0)
    mode, focus = framing
    out_w, out_h = FORMATS[fmt].size_for(frame.width, frame.height)
    if mode == "crop":
        window = crop_window(frame.width, frame.height, out_w, out_h, focus)
        frame = frame.crop((window.x, window.y, window.x + window.width,
                            window.y + window.height))
    else:  # the whole picture, fitted inside the format (the blurred fill shown dark)
        scale = min(out_w / frame.width, out_h / frame.height)
        fitted = frame.resize((max(1, round(frame.width * scale)),
                               max(1, round(frame.height * scale))))
        canvas = Image.new("RGB", (out_w, out_h), (24, 20, 32))
        canvas.paste(fitted, ((out_w - fitted.width) // 2, (out_h - fitted.height) // 2))
        frame = canvas
    image = preview_with_safe_zones(frame, fmt)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    st.image(buffer.getvalue(), caption=f"{fmt} · shaded: covered by the platform's buttons "
                                        "and captions", width="stretch")


def render_deliverables(studio: Studio, board: Storyboard) -> None:
    """A version of the spot for each platform, previewed with its safe zones; one zip."""
    spot = board.assembled
    if not spot or not studio.archive.exists(spot):
        st.caption("Assemble the spot first; the formats are made from it.")
        return
    chosen = st.pills("Formats", list(FORMATS), selection_mode="multi",
                      default=list(FORMATS), key=f"sb_formats_{board.id}",
                      format_func=lambda f: FORMATS[f].label)
    if any(shot.caption for shot in board.shots) or (board.end_card and board.end_card.title):
        st.caption("Captions and the end card are burned into the spot: a crop to another "
                   "shape may cut them, a fit with a blurred background keeps them whole.")
    columns = st.columns(max(1, len(chosen or [])))
    for column, fmt in zip(columns, chosen or []):
        with column:
            st.markdown(f"**{fmt}**")
            st.radio("Reframe", MODES, key=f"sb_mode_{board.id}_{fmt}",
                     format_func=_MODE_LABELS.get)
            if st.session_state.get(f"sb_mode_{board.id}_{fmt}", "crop") == "crop":
                st.slider("Focus, left to right", 0.0, 1.0, 0.5, 0.05,
                          key=f"sb_fx_{board.id}_{fmt}")
                st.slider("Focus, top to bottom", 0.0, 1.0, 0.5, 0.05,
                          key=f"sb_fy_{board.id}_{fmt}")
            try:
                _preview(studio, spot, fmt, _framing(board, fmt))
            except KlingError as exc:
                st.caption(literal(exc))
    st.button("Make the formats", type="primary", icon=":material/devices:",
              key=f"sb_deliver_{board.id}", disabled=not chosen or studio.spots.busy(),
              on_click=_deliver, args=(studio, board.id, list(chosen or [])))
    problem = st.session_state.get(f"sb_deliver_problem_{board.id}")
    if problem:
        st.error(literal(problem), icon=":material/error:")
    _follow(studio, board, "deliver")
    task = studio.spots.latest(board.id, "deliver")
    if task is not None and task.status == "done":
        paths = [Path(p) for p in task.paths if Path(p).is_file()]
        for column, path in zip(st.columns(max(1, len(paths))), paths):
            with column:
                st.video(str(path))
                st.caption(literal(path.name))
        st.download_button("Download all formats (zip)",
                           data=lambda: zip_deliverables(paths),
                           file_name=f"{slug(board.title)}-formats.zip",
                           mime="application/zip", icon=":material/folder_zip:",
                           key=f"sb_zip_{board.id}", on_click="ignore")


# -- watching -------------------------------------------------------------------------------

def render_watch(studio: Studio, board: Storyboard) -> None:
    """A storyboard for someone who may not change it: its shots, picked takes and spot."""
    st.subheader(literal(board.title), anchor=False)
    if board.style:
        st.caption(f"Style: {literal(board.style)}")
    spot = board.assembled
    if spot and studio.archive.exists(spot):
        st.markdown("**The spot**")
        player, _ = st.columns([2, 1])
        with player:
            play_video(studio.archive, spot, None)
    for number, shot in enumerate(board.shots, start=1):
        with st.container(border=True):
            st.markdown(f"**Shot {number}** · {shot.duration} s"
                        + (f" · caption “{literal(shot.caption)}”" if shot.caption else ""))
            st.text(shot.prompt)
            if shot.picked and studio.archive.exists(shot.picked):
                player, _ = st.columns([1, 2])
                with player:
                    play_video(studio.archive, shot.picked, None)
