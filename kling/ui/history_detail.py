"""One generation up close, and the questions asked before removing.

Which dialog is open lives in the URL (`?id=` for one generation, `?compare=a,b` for a
comparison, `kling.ui.history_compare`) so a view can be shared or reloaded, and in
session state for the confirmations; `kling.ui.history_dialogs` opens at most one per
run, as Streamlit allows.
Actions that change the log go through the core (`HistoryLog.annotate`,
`VideoArchive.delete`, `JobQueue.submit`). A possibly billed generation (`kling.billing`)
is only made again after a second click on a button that names the cost.

Every text that came from a person or a server (an error, a note, a template name) goes
into Markdown through `literal`, and every table shows `spreadsheet_safe` text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Mapping

import pandas as pd
import streamlit as st

from kling.archive import VideoArchive
from kling.errors import KlingError
from kling.billing import POSSIBLY_BILLED
from kling.history import MAX_NOTES_CHARS, NO_NAME, REVIEW_STATUSES, TrailEvent
from kling.people import Action
from kling.services import Studio
from kling.templates import TemplateError
from kling.ui.access import allowed, reason
from kling.ui.history_export import spreadsheet_safe
from kling.ui.history_format import (
    PENDING_NOTE, REVIEW_LABELS, TRAIL_LABELS, badges, blank, facts, is_possibly_billed,
    money_md, possibly_billed_note, settings_line, short, table_height, text, when,
)
from kling.ui.state import GENERATE_PAGE, generate_link, open_in_generate
from kling.ui.text import literal
from kling.ui.video import download_video_button, play_video

DETAIL_PARAM = "id"
COMPARE_PARAM = "compare"
MAX_COMPARE = 4
CONFIRM_KEY = "_history_confirm"
_RERUN_CONFIRM_PREFIX = "_history_rerun_"
_NOTICES_KEY = "_history_notices"


# -- opening and closing ----------------------------------------------------------------

def open_detail(gen_id: str) -> None:
    """Show one generation (the dialog opens on the next run of the page)."""
    st.query_params.pop(COMPARE_PARAM, None)
    st.query_params[DETAIL_PARAM] = gen_id


def open_compare(gen_ids: Sequence[str]) -> None:
    """Show 2-4 generations side by side."""
    st.query_params.pop(DETAIL_PARAM, None)
    st.query_params[COMPARE_PARAM] = ",".join(gen_ids[:MAX_COMPARE])


def ask_to_remove(gen_ids: Sequence[str]) -> None:
    """Ask before removing generations from view (their files stay)."""
    close_views()
    st.session_state[CONFIRM_KEY] = ("remove", list(gen_ids))


def ask_to_delete_files(gen_ids: Sequence[str]) -> None:
    """Ask before deleting the archived videos of removed generations."""
    close_views()
    st.session_state[CONFIRM_KEY] = ("delete", list(gen_ids))


def close_views() -> None:
    st.query_params.pop(DETAIL_PARAM, None)
    st.query_params.pop(COMPARE_PARAM, None)
    for key in [k for k in st.session_state if str(k).startswith(_RERUN_CONFIRM_PREFIX)]:
        del st.session_state[key]  # a re-run asked about is not asked again unseen


def _forget_confirmation() -> None:
    st.session_state.pop(CONFIRM_KEY, None)


# -- changing annotations ---------------------------------------------------------------

def _notify(message: str, icon: str) -> None:
    # A callback of a widget in a dialog runs before a rerun of that dialog alone, and
    # Streamlit cannot draw from there; the message waits for the next run that draws.
    st.session_state.setdefault(_NOTICES_KEY, []).append((message, icon))


def show_notices() -> None:
    """Toast what the last actions did."""
    for message, icon in st.session_state.pop(_NOTICES_KEY, []):
        st.toast(message, icon=icon)


def annotate(studio: Studio, gen_ids: Sequence[str], message: str | None = None,
             **fields: Any) -> None:
    """Save annotations; say so briefly, or say why they could not be saved."""
    try:
        studio.history.annotate(list(gen_ids), **fields)
    except (ValueError, KlingError) as exc:
        _notify(f"Not saved: {literal(exc)}", ":material/error:")
        return
    if message:
        _notify(message, ":material/check:")


def _save_changed(studio: Studio, gen_id: str, field: str, value: Any, message: str) -> None:
    # Streamlit may report a widget of a dialog that was just replaced as "changed" to
    # the value it already showed; only a real change is written (and announced).
    row = studio.history.get(gen_id)
    if row is not None and row.get(field) != value:
        annotate(studio, [gen_id], message, **{field: value})


def _save_favourite(studio: Studio, gen_id: str) -> None:
    favourite = bool(st.session_state[f"fav-{gen_id}"])
    _save_changed(studio, gen_id, "favourite", favourite,
                  "Added to favourites." if favourite else "Removed from favourites.")


def _save_rating(studio: Studio, gen_id: str) -> None:
    chosen = st.session_state[f"rating-{gen_id}"]
    rating = None if chosen is None else int(chosen) + 1
    _save_changed(studio, gen_id, "rating", rating,
                  f"Rated {rating} ★." if rating else "Rating cleared.")


def _save_review(studio: Studio, gen_id: str) -> None:
    status = st.session_state[f"review-{gen_id}"]
    _save_changed(studio, gen_id, "review_status", status,
                  f"Marked {REVIEW_LABELS[status].lower()}.")


def _save_notes(studio: Studio, gen_id: str) -> None:
    if not allowed(studio, Action.CURATE):  # viewers write notes; tags are curators'
        annotate(studio, [gen_id], "Notes saved.", notes=st.session_state[f"notes-{gen_id}"])
        return
    annotate(studio, [gen_id], "Notes and tags saved.",
             notes=st.session_state[f"notes-{gen_id}"],
             tags=st.session_state[f"tags-{gen_id}"])


def _restore(studio: Studio, gen_ids: Sequence[str]) -> None:
    annotate(studio, gen_ids, f"Restored {len(gen_ids)} to view.", hidden=False)


# -- re-run and remix -------------------------------------------------------------------

def template_names(studio: Studio) -> dict[str, str]:
    """Template id -> name, for every template the library knows."""
    try:
        templates = studio.templates.all()
    except TemplateError:  # a damaged library must not hide the history
        templates = studio.templates.builtins()
    return {template.id: template.name for template in templates}


def _template_handoff(row: Mapping[str, Any], names: Mapping[str, str]) -> dict | None:
    template_id = text(row.get("template_id"))
    if not template_id:
        return None
    version = row.get("template_version")
    return {"id": template_id, "version": None if blank(version) else int(version),
            "name": names.get(template_id, template_id),
            "vars": row.get("template_vars") or None}


def _seed(row: Mapping[str, Any]) -> int | None:
    return None if blank(row.get("seed")) else int(row["seed"])


def remix(row: Mapping[str, Any], names: Mapping[str, str]) -> None:
    """Open Generate with this generation's prompt, settings, seed and template filled in."""
    open_in_generate(text(row.get("prompt")), duration=text(row.get("duration"), "5"),
                     aspect_ratio=text(row.get("aspect_ratio"), "16:9"), seed=_seed(row),
                     template=_template_handoff(row, names))


# -- what a generation shows ------------------------------------------------------------

def render_media(archive: VideoArchive, row: Mapping[str, Any], *, portrait_width: int,
                 error_chars: int | None = None) -> None:
    """The video when there is one; otherwise what happened, in words.

    Portrait (9:16) videos are drawn `portrait_width` pixels wide and centred, so that
    they stand as tall as landscape ones rather than towering over them.
    """
    status = text(row.get("status"))
    if status == "succeeded":
        if text(row.get("aspect_ratio")) == "9:16":
            with st.container(horizontal=True, horizontal_alignment="center"):
                with st.container(width=portrait_width):
                    play_video(archive, row["id"], row.get("video_url"))
        else:
            play_video(archive, row["id"], row.get("video_url"))
    elif is_possibly_billed(row):
        st.warning(possibly_billed_note(row), icon=":material/paid:")
        error = text(row.get("error"))
        if error and not error_chars:  # a card has no room to say it twice
            st.caption(literal(error))
    elif status == "failed":
        error = text(row.get("error"), "The generation failed; no reason was recorded.")
        st.error(literal(short(error, error_chars) if error_chars else error),
                 icon=":material/error:")
    else:
        st.info(PENDING_NOTE, icon=":material/hourglass_top:")


def share_link(gen_id: str) -> str:
    """A link that opens exactly this generation (without this person's session token)."""
    base = st.context.url or ""
    return f"{base}?{DETAIL_PARAM}={gen_id}"


def _facts_table(row: Mapping[str, Any], names: Mapping[str, str]) -> pd.DataFrame:
    shown = [fact for fact in facts(row, names) if fact.label != "Prompt"]
    return spreadsheet_safe(pd.DataFrame(
        {"Value": [fact.value for fact in shown]},
        index=pd.Index([fact.label for fact in shown], name="Parameter")))


def _annotation_widgets(studio: Studio, row: Mapping[str, Any]) -> None:
    gen_id = row["id"]
    rating = row.get("rating")
    curate, review_help = reason(studio, Action.CURATE), reason(studio, Action.REVIEW)
    st.caption("Rating", help=curate)
    st.feedback("stars", key=f"rating-{gen_id}",
                default=None if blank(rating) else int(rating) - 1,
                on_change=_save_rating, args=(studio, gen_id), disabled=curate is not None)
    review = text(row.get("review_status"), "draft")
    st.segmented_control(
        "Review", REVIEW_STATUSES, default=review if review in REVIEW_STATUSES else "draft",
        required=True, format_func=REVIEW_LABELS.get, key=f"review-{gen_id}",
        on_change=_save_review, args=(studio, gen_id), disabled=review_help is not None,
        help=review_help,
    )
    reviewer = text(row.get("reviewed_by"))
    if reviewer and review in ("approved", "rejected"):
        st.caption(f"{REVIEW_LABELS[review]} by {literal(reviewer)}, "
                   f"{when(row.get('reviewed_at'))}")
    st.toggle("Favourite", value=row.get("favourite") is True, key=f"fav-{gen_id}",
              on_change=_save_favourite, args=(studio, gen_id), disabled=curate is not None,
              help=curate)
    # Not `max_chars`: the browser would silently cut a paste that is too long. The
    # count follows the box each time it is left, and too much text stays where it is.
    st.text_area("Notes", value=text(row.get("notes")), key=f"notes-{gen_id}", height=80,
                 placeholder="What works, what to change, who it is for…",
                 help=f"Up to {MAX_NOTES_CHARS:,} characters.")
    too_long = _notes_length(st.session_state.get(f"notes-{gen_id}"))
    notes_by = text(row.get("notes_by"))
    if notes_by and text(row.get("notes")):
        st.caption(f"Notes by {literal(notes_by)}")
    tags = row.get("tags")
    st.text_input("Tags", value=", ".join(tags) if isinstance(tags, list) else text(tags),
                  key=f"tags-{gen_id}", placeholder="summer, hero shot",
                  help=curate or "Separate tags with commas.", disabled=curate is not None)
    st.button("Save notes and tags" if curate is None else "Save notes",
              key=f"save-notes-{gen_id}", on_click=_save_notes,
              args=(studio, gen_id), icon=":material/save:", disabled=too_long)


def _trail(studio: Studio, gen_id: str) -> None:
    """Who generated it, who rated, tagged, noted and reviewed it, and when."""
    events: list[TrailEvent] = studio.history.trail(gen_id)
    if not events:
        return
    st.markdown("**Who did what**")
    st.dataframe(spreadsheet_safe(pd.DataFrame({
        "When": [when(event.at) for event in events],
        "Who": [event.by or NO_NAME for event in events],
        "What": [TRAIL_LABELS.get(event.what, event.what) for event in events],
        "Value": [short(event.value, 80) for event in events],
    })), hide_index=True, width="stretch", height=table_height(len(events)))


def _notes_length(notes: Any) -> bool:
    """Under the notes: how many characters of the limit are used, or how many too many.
    True when the notes are too long to save."""
    used = len(notes) if isinstance(notes, str) else 0
    over = used - MAX_NOTES_CHARS
    if over > 0:
        st.error(f"**{over:,} character{'s' if over != 1 else ''} too long** — notes hold "
                 f"up to {MAX_NOTES_CHARS:,}. Shorten them to save; your text stays in the "
                 "box until then.", icon=":material/error:")
        return True
    st.caption(f"{used:,} / {MAX_NOTES_CHARS:,} characters")
    return False


def _confirm_key(gen_id: str) -> str:
    return f"{_RERUN_CONFIRM_PREFIX}{gen_id}"


def _ask_to_rerun(gen_id: str) -> None:
    st.session_state[_confirm_key(gen_id)] = True


def _forget_rerun(gen_id: str) -> None:
    st.session_state.pop(_confirm_key(gen_id), None)


def _queue_again(studio: Studio, row: Mapping[str, Any], owner: str, *,
                 cost_confirmed: bool = False) -> None:
    """Re-run, and say where to follow it (or why it could not be queued).
    `cost_confirmed`: a person agreed to pay again for a possibly billed one."""
    try:
        job = studio.queue.rerun(row["id"], owner=owner, possibly_billed_again=cost_confirmed)
    except (KlingError, OSError) as exc:
        st.error(f"Cannot re-run this generation: {literal(exc)}", icon=":material/error:")
        return
    seed = "the same seed" if job.request.seed is not None else "a new random seed"
    st.success(f"Queued again with {seed}. Follow it on **Generate** under "
               "*Your generations*; it appears here when it is ready.",
               icon=":material/check:")
    st.page_link(GENERATE_PAGE, label="Go to Generate", icon=":material/movie:",
                 query_params=generate_link(owner))


def rerun_cost(studio: Studio, row: Mapping[str, Any]) -> float:
    """What making this generation again is estimated to cost, in USD."""
    return studio.estimate_cost(text(row.get("duration"), "5"))


def _confirm_rerun(studio: Studio, row: Mapping[str, Any], owner: str) -> None:
    """The second step of re-running a possibly billed generation: the cost, named."""
    gen_id = row["id"]
    again = money_md(rerun_cost(studio, row))
    charged = row.get("cost_usd")
    already = "an unknown amount" if blank(charged) else f"about {money_md(charged)}"
    st.warning(f"This video is **{POSSIBLY_BILLED}**: Firemoon may already have made it "
               f"and charged {already}. Re-running sends it again and costs about {again} "
               "more. Check your Firemoon account first.", icon=":material/paid:")
    answer = st.container(horizontal=True)
    confirmed = answer.button(f"Re-run anyway ({again})", key=f"rerun-yes-{gen_id}",
                              type="primary", icon=":material/replay:")
    answer.button("Cancel", key=f"rerun-no-{gen_id}", on_click=_forget_rerun,
                  args=(gen_id,))
    if confirmed:
        _forget_rerun(gen_id)
        _queue_again(studio, row, owner, cost_confirmed=True)


def _actions(studio: Studio, row: Mapping[str, Any], owner: str,
             names: Mapping[str, str]) -> None:
    gen_id = row["id"]
    bar = st.container(horizontal=True)
    if not allowed(studio, Action.GENERATE):
        pass  # re-run and remix make videos: not offered (the Generate page says why)
    elif is_possibly_billed(row):
        bar.button("Re-run…", key=f"rerun-{gen_id}", type="primary", icon=":material/replay:",
                   help="Make it again: same prompt, settings and seed. It may already "
                        "have been billed, so you are asked first.",
                   on_click=_ask_to_rerun, args=(gen_id,))
    elif bar.button("Re-run", key=f"rerun-{gen_id}", type="primary",
                    icon=":material/replay:",
                    help="Make it again: same prompt, settings and seed."):
        _queue_again(studio, row, owner)
    if allowed(studio, Action.GENERATE) and bar.button(
            "Remix", key=f"remix-{gen_id}", icon=":material/edit:",
            help="Open Generate with these settings to change them first."):
        remix(row, names)
    # Switching to another dialog needs a whole-page rerun: a callback here would only
    # rerun this dialog.
    if not allowed(studio, Action.REMOVE):
        pass  # removing is an admin's
    elif row.get("hidden") is True:
        bar.button("Restore to view", key=f"restore-{gen_id}", icon=":material/visibility:",
                   on_click=_restore, args=(studio, [gen_id]))
        if bar.button("Delete video file…", key=f"delete-{gen_id}", icon=":material/delete:",
                      disabled=not studio.archive.exists(gen_id)):
            ask_to_delete_files([gen_id])
            st.rerun()
    elif bar.button("Remove from view…", key=f"remove-{gen_id}",
                    icon=":material/visibility_off:"):
        ask_to_remove([gen_id])
        st.rerun()
    if st.session_state.get(_confirm_key(gen_id)) and is_possibly_billed(row):
        _confirm_rerun(studio, row, owner)


def render_detail(studio: Studio, gen_id: str, owner: str) -> None:
    """Everything about one generation, its video, annotations and actions."""
    row = studio.history.get(gen_id)
    if row is None:
        st.warning("This generation is not in this studio's history. The link may come "
                   "from another studio, or the log was replaced.", icon=":material/link_off:")
        return
    names = template_names(studio)
    label = badges(row)
    if label:
        st.markdown(label)
    video, side = st.columns([3, 2], gap="large")
    with video:
        render_media(studio.archive, row, portrait_width=300)
        download_video_button(studio.archive, gen_id, key=f"detail-dl-{gen_id}")
        st.caption(f"{when(row.get('created_at'))} · {literal(settings_line(row))}")
        st.code(text(row.get("prompt")), language=None, wrap_lines=True)
    with side:
        _annotation_widgets(studio, row)
    _actions(studio, row, owner, names)
    st.markdown("**Every parameter, timing and cost**")
    table = _facts_table(row, names)
    st.dataframe(table, width="stretch", height=table_height(len(table)),
                 column_config={"_index": st.column_config.Column(width="medium")})
    _trail(studio, gen_id)
    st.caption("Link to exactly this generation (copy it with the button on the right):")
    st.code(share_link(gen_id), language=None)


@st.dialog("Generation", width="large", on_dismiss=close_views)
def detail_dialog(studio: Studio, gen_id: str, owner: str) -> None:
    show_notices()
    render_detail(studio, gen_id, owner)


# -- confirmations ----------------------------------------------------------------------

def _plural(count: int, word: str = "generation") -> str:
    return f"{count} {word}{'s' if count != 1 else ''}"


@st.dialog("Remove from view?", on_dismiss=_forget_confirmation)
def confirm_remove(studio: Studio, gen_ids: list[str]) -> None:
    st.markdown(f"**{_plural(len(gen_ids))}** will no longer show in the gallery, the "
                "table, the analysis or exports.")
    st.markdown("Nothing is deleted: the videos stay in the archive. Turn on **Show "
                "removed** under *More filters* to see them again and restore them.")
    yes, no = st.columns(2)
    if yes.button("Remove from view", type="primary", key="confirm-remove",
                  icon=":material/visibility_off:", width="stretch"):
        _forget_confirmation()
        annotate(studio, gen_ids, f"Removed {_plural(len(gen_ids))} from view.", hidden=True)
        st.rerun()
    if no.button("Cancel", key="cancel-remove", width="stretch"):
        _forget_confirmation()
        st.rerun()


def delete_files(studio: Studio, gen_ids: Sequence[str]) -> int:
    """Delete the archived videos of these generations; how many files were deleted."""
    deleted = 0
    for gen_id in gen_ids:
        if studio.archive.exists(gen_id):
            studio.archive.delete(gen_id)
            deleted += 1
    return deleted


@st.dialog("Delete video files?", on_dismiss=_forget_confirmation)
def confirm_delete(studio: Studio, gen_ids: list[str]) -> None:
    archived = [i for i in gen_ids if studio.archive.exists(i)]
    if not archived:
        st.info("None of these have a video file in the archive any more.")
    st.markdown(f"This deletes the archived video of **{_plural(len(archived))}** from "
                "this computer, **for good**.")
    st.markdown("Their history stays — prompt, seed and settings — so they can still be "
                "re-run. The provider's link may still play for a while.")
    yes, no = st.columns(2)
    if yes.button("Delete files for good", type="primary", key="confirm-delete",
                  icon=":material/delete_forever:", width="stretch", disabled=not archived):
        _forget_confirmation()
        try:
            deleted = delete_files(studio, archived)
        except OSError as exc:
            _notify(f"Some files could not be deleted: {literal(exc)}", ":material/error:")
        else:
            _notify(f"Deleted {_plural(deleted, 'video file')}.", ":material/delete:")
        st.rerun()
    if no.button("Keep the files", key="cancel-delete", width="stretch"):
        _forget_confirmation()
        st.rerun()
