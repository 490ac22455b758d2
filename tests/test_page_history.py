"""The History page through AppTest: every state of a generation, filters, the detail view,
annotations, bulk actions, removal, re-run and remix, a log from an earlier version, and
trust: possibly billed generations said so and re-run only on a confirmation naming the
cost, server and person text shown literally, spreadsheet-safe tables and exports, the
notes limit, and hostile URL parameters."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from kling.archive import VideoArchive
from kling.errors import InvalidRequestError, OutcomeUnknownError, ServerError
from kling.history import MAX_NOTES_CHARS, HistoryLog, export_csv, export_json
from kling.models import GenerationRequest, GenerationResult, Video
from kling.ui.history_export import video_file_name, videos_zip
from tests.conftest import ROOT
from tests.page_text import plain

WAVES = "Waves crashing on black sand, slow drone shot, golden hour"
SNEAKER = "Sneaker spinning on a pedestal, orbit shot, fast-paced"
COFFEE = "Coffee pouring in slow motion, macro push-in"
KITE = "A kite rising over dunes, tracking shot, gentle floating"
FAILURE = "The provider had a problem and could not generate this video."


def result(seed: int, aspect_ratio: str = "16:9", inference_s: float = 12.5) -> GenerationResult:
    width, height = (1920, 1080) if aspect_ratio == "16:9" else (1080, 1920)
    video = Video(url=f"https://videos.example/{seed}.mp4", duration=5.0, width=width,
                  height=height, content_type="video/mp4")
    return GenerationResult(videos=(video,), seed=seed, inference_s=inference_s)


def succeed(log: HistoryLog, data_dir: Path, prompt: str, *, seed: int, duration: str = "5",
            aspect_ratio: str = "16:9", archived: bool = True, **fields) -> str:
    """A finished generation, its (stand-in) video in the archive."""
    gen_id = log.record_pending(GenerationRequest.create(prompt, duration, aspect_ratio, seed),
                                **fields)
    log.record_success(gen_id, result(seed, aspect_ratio), elapsed_s=14.2)
    if archived:
        path = VideoArchive(data_dir).path_for(gen_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\x00\x00\x00\x18ftypmp42 stand-in " + gen_id.encode())
        log.record_video_path(gen_id, str(path))
    return gen_id


def interrupted(data_dir: Path, prompt: str, seed: int) -> None:
    """A generation whose process died after logging it as pending."""
    code = ("import sys; from kling.history import HistoryLog; "
            "from kling.models import GenerationRequest as R; "
            "HistoryLog(sys.argv[1]).record_pending(R.create(sys.argv[2], '10', '9:16', "
            "int(sys.argv[3])))")
    subprocess.run([sys.executable, "-c", code, str(data_dir), prompt, str(seed)],
                   cwd=ROOT, check=True)


@pytest.fixture
def seeded(studio_env) -> dict[str, str]:
    """A log with one generation in every state; returns their ids by state."""
    log = HistoryLog(studio_env)
    ids = {"ready": succeed(log, studio_env, WAVES, seed=42),
           "portrait": succeed(log, studio_env, KITE, seed=5, aspect_ratio="9:16")}
    failed = log.record_pending(GenerationRequest.create(SNEAKER, "10", "9:16", 7))
    log.record_failure(failed, ServerError(FAILURE), elapsed_s=3.0)
    ids["failed"] = failed
    ids["pending"] = log.record_pending(GenerationRequest.create(COFFEE, "5", "16:9", 9))
    interrupted(studio_env, "Fireworks over a harbour, drone shot", 11)
    ids["interrupted"] = next(i for i in log.load()["id"] if i not in ids.values())
    return ids


def history_page(**query_params: str) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.query_params.update(query_params)
    at.switch_page("pages/history.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def shown(at: AppTest) -> str:
    """Every piece of text on the page as a person reads it (Markdown escapes undone)."""
    return plain(markdown_of(at))


def facts(at: AppTest) -> list:
    """The values of the detail's table of every parameter, timing and cost (the table
    whose columns are not the trail's)."""
    table = next(frame.value for frame in at.dataframe if "Who" not in frame.value.columns)
    return list(table["Value"])


def markdown_of(at: AppTest) -> str:
    """Every piece of text on the page as it was handed to Streamlit (Markdown source)."""
    parts = []
    for kind in ("markdown", "caption", "text", "info", "warning", "error", "success", "code"):
        parts.extend(str(element.value) for element in at.get(kind))
    return "\n".join(parts)


def cards(at: AppTest) -> list[str]:
    """Prompts of the gallery cards shown."""
    return [t.value for t in at.text]


def test_empty_log_points_to_generate(studio_env):
    at = history_page()
    assert "Nothing here yet" in shown(at)
    assert any(link.label.startswith("Make your first video") for link in at.get("page_link"))
    assert not at.text_input  # no filters over nothing


def test_every_state_is_shown_clearly(seeded):
    at = history_page()
    text = shown(at)
    assert "**5** generations" in text
    assert FAILURE in text  # a failure says why
    assert ":orange-badge[Interrupted]" in text and "possibly billed" in text
    assert ":blue-badge[Generating]" in text and "Still generating" in text
    assert len(at.get("video")) == 2
    # Newest first: the interrupted one was logged last.
    assert cards(at)[0].startswith("Fireworks over a harbour")


def test_search_filters_prompts(seeded):
    at = history_page()
    at.text_input(key="q").input("sneaker").run()
    assert not at.exception
    assert "**1** of 5 generations match" in shown(at)
    assert cards(at) == [SNEAKER]
    at.text_input(key="q").input("nothing like this").run()
    assert "No generations match these filters." in shown(at)


def test_filters_come_from_the_url(seeded):
    # Bound widgets keep their option labels in the URL, as a person reads them.
    at = history_page(status="Failed")
    assert cards(at) == [SNEAKER]
    at = history_page(ratio="9:16", sort="Oldest first")
    assert cards(at)[0] == KITE
    at = history_page(q="coffee")
    assert cards(at) == [COFFEE]


def test_id_in_the_url_opens_exactly_that_generation(seeded):
    gen_id = seeded["ready"]
    at = history_page(id=gen_id)
    codes = [c.value for c in at.code]
    assert WAVES in codes
    assert any(c.endswith(f"?id={gen_id}") for c in codes)  # a link to share
    values = facts(at)
    assert "42" in values and "$1.40" in values and "14.2 s" in values


def test_detail_of_a_failure_shows_the_error(seeded):
    at = history_page(id=seeded["failed"])
    assert FAILURE in shown(at)
    assert any(FAILURE in str(v) for v in facts(at))


def test_a_link_to_an_unknown_generation_says_so(seeded):
    at = history_page(id="20200101-000000-deadbeef")
    assert "not in this studio's history" in shown(at)
    at = history_page(id="../../etc/passwd")
    assert "does not point to a generation" in shown(at)


def test_rating_review_notes_and_favourite_persist(seeded, studio_env):
    gen_id = seeded["ready"]
    at = history_page(id=gen_id)
    at.feedback(key=f"rating-{gen_id}").set_value(3).run()
    at.button_group(key=f"review-{gen_id}").set_value("approved").run()
    at.toggle(key=f"fav-{gen_id}").set_value(True).run()
    at.text_area(key=f"notes-{gen_id}").input("Use for the summer launch")
    at.text_input(key=f"tags-{gen_id}").input("summer, hero")
    at.button(key=f"save-notes-{gen_id}").click().run()
    assert not at.exception
    saved = HistoryLog(studio_env).get(gen_id)
    assert saved["rating"] == 4 and saved["review_status"] == "approved"
    assert saved["favourite"] is True
    assert saved["notes"] == "Use for the summer launch" and saved["tags"] == ["summer", "hero"]
    annotations = (studio_env / "annotations.csv").read_text()
    assert gen_id in annotations and "approved" in annotations
    # A fresh visit shows what was saved.
    at = history_page(id=gen_id)
    assert at.feedback(key=f"rating-{gen_id}").value == 3
    assert at.button_group(key=f"review-{gen_id}").value == "approved"


def select_cards(at: AppTest, *gen_ids: str) -> AppTest:
    for gen_id in gen_ids:
        at.checkbox(key=f"pick-{gen_id}").check()
    return at.run()


def test_several_selected_are_approved_together(seeded, studio_env):
    at = select_cards(history_page(), seeded["ready"], seeded["portrait"])
    assert "**2 selected**" in shown(at)
    at.button(key="bulk-approve").click().run()
    at.button(key="bulk-favourite").click().run()
    frame = HistoryLog(studio_env).load().set_index("id")
    for gen_id in (seeded["ready"], seeded["portrait"]):
        assert frame.loc[gen_id, "review_status"] == "approved"
        assert frame.loc[gen_id, "favourite"]
    assert frame.loc[seeded["failed"], "review_status"] == "draft"
    at = history_page(review="Approved", fav="true")
    assert sorted(cards(at)) == sorted([WAVES, KITE])


def test_compare_shows_both_and_highlights_differences(seeded):
    at = select_cards(history_page(), seeded["ready"], seeded["portrait"])
    at.button(key="bulk-compare").click().run()
    assert not at.exception
    text = shown(at)
    assert "Settings that differ:** Prompt, Aspect ratio, Seed" in text
    table = at.dataframe[-1].value
    assert list(table.columns) == ["A", "B"]
    assert set(table.loc["Seed"]) == {"42", "5"}
    assert len(at.get("video")) >= 4  # the gallery behind, and the two compared


def test_removing_asks_first_and_keeps_the_file_until_confirmed(seeded, studio_env):
    gen_id = seeded["ready"]
    archive = VideoArchive(studio_env)
    at = select_cards(history_page(), gen_id)
    at.button(key="bulk-remove").click().run()
    assert "Nothing is deleted" in shown(at)
    assert not HistoryLog(studio_env).get(gen_id)["hidden"]  # only asked so far
    at.button(key="confirm-remove").click().run()
    assert HistoryLog(studio_env).get(gen_id)["hidden"] is True
    assert WAVES not in cards(at) and archive.exists(gen_id)

    at = history_page(hidden="true")
    assert WAVES in cards(at)
    at = select_cards(at, gen_id)
    at.button(key="bulk-delete").click().run()
    assert "for good" in shown(at) and archive.exists(gen_id)
    at.button(key="confirm-delete").click().run()
    assert not at.exception
    assert not archive.exists(gen_id)
    assert HistoryLog(studio_env).get(gen_id) is not None  # the history stays


def test_removing_from_the_detail_view_asks_too(seeded, studio_env):
    gen_id = seeded["portrait"]
    at = history_page(id=gen_id)
    at.button(key=f"remove-{gen_id}").click().run()
    assert "Nothing is deleted" in shown(at)
    assert "id" not in at.query_params  # the confirmation replaced the detail view
    at.button(key="cancel-remove").click().run()
    assert HistoryLog(studio_env).get(gen_id)["hidden"] is False


def test_compare_leads_to_the_detail_of_one(seeded):
    at = history_page(compare=f"{seeded['ready']},{seeded['failed']}")
    assert "Settings that differ:" in shown(at)
    at.button(key=f"compare-open-{seeded['failed']}").click().run()
    assert at.query_params.get("id") == seeded["failed"] and "compare" not in at.query_params
    assert FAILURE in shown(at) and SNEAKER in [c.value for c in at.code]


def test_a_removed_generation_can_be_restored(seeded, studio_env):
    gen_id = seeded["failed"]
    HistoryLog(studio_env).annotate(gen_id, hidden=True)
    at = history_page(id=gen_id)
    assert "Removed from view" in shown(at)
    at.button(key=f"restore-{gen_id}").click().run()
    assert HistoryLog(studio_env).get(gen_id)["hidden"] is False


def test_rerun_queues_the_same_prompt_settings_and_seed(seeded, studio_env):
    gen_id = seeded["portrait"]
    at = history_page(id=gen_id)
    at.button(key=f"rerun-{gen_id}").click().run()
    assert not at.exception
    assert "Queued again with the same seed" in shown(at)
    assert any(link.label == "Go to Generate" for link in at.get("page_link"))
    log = HistoryLog(studio_env).load()
    again = log[(log["prompt"] == KITE) & (log["id"] != gen_id)]
    assert len(again) == 1
    assert (again.iloc[0]["seed"], again.iloc[0]["aspect_ratio"]) == (5, "9:16")


def test_remix_opens_generate_filled_in(seeded):
    gen_id = seeded["failed"]
    at = history_page(id=gen_id)
    at.button(key=f"remix-{gen_id}").click().run()
    assert not at.exception
    assert at.text_area(key="gen_prompt").value == SNEAKER
    assert at.number_input(key="gen_seed").value == 7
    assert at.radio(key="gen_aspect").value == "9:16"
    assert at.radio(key="gen_duration").value == "10"


def test_table_and_analysis_views(seeded):
    at = history_page(view="Table")
    table = at.dataframe[0].value
    assert len(table) == 5
    assert set(table["Status"]) == {"Ready", "Failed", "Generating",
                                    "Interrupted · possibly billed"}
    assert any(FAILURE in str(error) for error in table["Error"])
    at = history_page(view="Analysis")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Generations"] == "5" and metrics["Success rate"] == "67%"
    assert metrics["Inference p50"] == "12.5 s"
    assert len(at.get("vega_lite_chart")) == 6  # no template used: a note instead


def test_a_large_log_is_paged(studio_env):
    log = HistoryLog(studio_env)
    for seed in range(30):
        succeed(log, studio_env, f"Take {seed:02d}: balloons over a valley, drone shot",
                seed=seed, archived=False)
    at = history_page()
    assert len(at.text) == 12 and at.text[0].value.startswith("Take 29")
    at = history_page(page="3")
    assert [t.value[:7] for t in at.text] == [f"Take {n:02d}" for n in range(5, -1, -1)]
    at = history_page(view="Table")
    assert len(at.dataframe[0].value) == 30


def test_a_log_from_an_earlier_version_renders(studio_env):
    studio_env.mkdir(parents=True)
    (studio_env / "history.csv").write_text(
        "id,created_at,status,prompt,duration,aspect_ratio,seed,inference_s,elapsed_s,"
        "video_url,video_path,error\n"
        "20250101-100000-aaaa0001,2025-01-01T10:00:00+00:00,succeeded,\"Old waves, pan\",5,"
        "16:9,3,11.5,13.0,https://videos.example/old.mp4,,\n"
        "20250102-100000-aaaa0002,2025-01-02T10:00:00+00:00,failed,Old failure,10,9:16,4,,"
        "2.0,,,Server error\n")
    for view in ("Gallery", "Table", "Analysis"):
        at = history_page(view=view)
        assert "**2** generations" in shown(at)
    at = history_page(id="20250102-100000-aaaa0002")
    assert "Server error" in shown(at)
    at = history_page(q="waves")
    assert cards(at) == ["Old waves, pan"]


def test_zip_names_tell_takes_apart_and_store_videos(seeded, studio_env):
    log = HistoryLog(studio_env)
    rows = [log.get(seeded["ready"]), log.get(seeded["portrait"])]
    names = [video_file_name(row) for row in rows]
    assert names[0].endswith(f"_seed42_waves-crashing-on-black-sand_{seeded['ready']}.mp4")
    assert len(set(names)) == 2
    assert video_file_name({"id": "x1", "prompt": "=cmd|' /C calc'!A0 ../../évian",
                            "seed": None, "created_at": None}) == \
        "undated_seed-random_cmd-c-calc-a0-evian_x1.mp4"
    archive = VideoArchive(studio_env)
    data = videos_zip([(n, archive.path_for(r["id"])) for n, r in zip(names, rows)])
    with zipfile.ZipFile(BytesIO(data)) as bundle:
        assert bundle.namelist() == names
        assert {i.compress_type for i in bundle.infolist()} == {zipfile.ZIP_STORED}


# -- trust: possibly billed, literal text, spreadsheet-safe, notes, URL parameters ---------

HOSTILE = "[Click here](http://evil.example/x) ![x](http://127.0.0.1:1/pixel.png) :red[**URGENT**]"
FORMULA_PROMPT = '=HYPERLINK("http://evil.example","Click")'
UNSURE = "Lanterns rising over a lake at night, slow crane shot"
BILLED_NOTE = "Check your Firemoon account before re-running it."


@pytest.fixture
def trust(studio_env) -> dict[str, str]:
    """A ready video, an interrupted one (10 s: $2.80), one whose answer never came (5 s:
    $1.40), a 400 whose message is Markdown, and a prompt that is a spreadsheet formula."""
    log = HistoryLog(studio_env)
    ids = {"ready": succeed(log, studio_env, WAVES, seed=42)}
    formula = log.record_pending(GenerationRequest.create(FORMULA_PROMPT, "5", "16:9", 3))
    log.record_failure(formula, ServerError("@SUM(1+1)*cmd|' /C calc'!A0"), elapsed_s=1.0)
    ids["formula"] = formula
    hostile = log.record_pending(GenerationRequest.create(SNEAKER, "5", "16:9", 8))
    log.record_failure(hostile, InvalidRequestError(HOSTILE, status=400), elapsed_s=0.5)
    ids["hostile"] = hostile
    unsure = log.record_pending(GenerationRequest.create(UNSURE, "5", "16:9", 12))
    log.record_failure(unsure, OutcomeUnknownError(), elapsed_s=900.0)
    ids["unknown"] = unsure
    interrupted(studio_env, "Fireworks over a harbour, drone shot", 11)
    ids["interrupted"] = next(i for i in log.load()["id"] if i not in ids.values())
    return ids


def card_of(at: AppTest, prompt: str) -> str:
    """The Markdown of the gallery card whose prompt is `prompt`."""
    for column in at.get("column"):
        if any(t.value == prompt for t in column.get("text")):
            return "\n".join(str(e.value) for kind in ("markdown", "warning", "error",
                                                       "caption", "info")
                             for e in column.get(kind))
    raise AssertionError(f"no card for {prompt!r}")


def test_possibly_billed_cards_say_so_with_the_cost(trust):
    at = history_page()
    interrupted_card = plain(card_of(at, "Fireworks over a harbour, drone shot"))
    assert "possibly billed" in interrupted_card and "about $2.80" in interrupted_card
    assert BILLED_NOTE in interrupted_card
    unknown_card = plain(card_of(at, UNSURE))
    assert "possibly billed" in unknown_card and "about $1.40" in unknown_card
    assert BILLED_NOTE in unknown_card
    # An ordinary failure cost nothing and says nothing of the kind.
    assert "possibly billed" not in card_of(at, SNEAKER)
    assert "possibly billed" not in card_of(at, WAVES)


def test_possibly_billed_in_the_table_and_as_a_status_filter(trust):
    at = history_page(view="Table")
    table = at.dataframe[0].value.set_index("Id")
    assert table.loc[trust["interrupted"], "Status"] == "Interrupted · possibly billed"
    assert table.loc[trust["unknown"], "Status"] == "Failed · possibly billed"
    assert table.loc[trust["hostile"], "Status"] == "Failed"
    at = history_page(status="Possibly billed")
    assert sorted(cards(at)) == sorted([UNSURE, "Fireworks over a harbour, drone shot"])
    assert "**2** of 5 generations match" in shown(at)
    at = history_page(status=["Possibly billed", "Ready"])
    assert sorted(cards(at)) == sorted([UNSURE, "Fireworks over a harbour, drone shot", WAVES])


@pytest.mark.parametrize("which, cost", [("interrupted", "$2.80"), ("unknown", "$1.40")])
def test_possibly_billed_detail_says_so_with_the_cost(trust, which, cost):
    at = history_page(id=trust[which])
    text = shown(at)
    assert "possibly billed" in text and f"about {cost}" in text and BILLED_NOTE in text
    values = facts(at)
    assert f"{cost} (possibly billed)" in values
    assert any(str(v).endswith("possibly billed") for v in values)  # the status


@pytest.mark.parametrize("which, cost", [("interrupted", "$2.80"), ("unknown", "$1.40")])
def test_rerun_of_a_possibly_billed_generation_asks_first_naming_the_cost(
        trust, studio_env, which, cost):
    gen_id = trust[which]
    before = len(HistoryLog(studio_env).load())
    at = history_page(id=gen_id)
    at.button(key=f"rerun-{gen_id}").click().run()
    assert not at.exception
    assert len(HistoryLog(studio_env).load()) == before  # only asked so far
    assert f"costs about {cost} more" in shown(at)
    assert plain(at.button(key=f"rerun-yes-{gen_id}").label) == f"Re-run anyway ({cost})"
    at.button(key=f"rerun-no-{gen_id}").click().run()  # Cancel
    assert all(b.key != f"rerun-yes-{gen_id}" for b in at.button)
    assert len(HistoryLog(studio_env).load()) == before

    at.button(key=f"rerun-{gen_id}").click().run()
    at.button(key=f"rerun-yes-{gen_id}").click().run()
    assert not at.exception
    assert "Queued again with the same seed" in shown(at)
    assert len(HistoryLog(studio_env).load()) == before + 1


def test_rerun_of_an_ordinary_generation_needs_no_confirmation(trust, studio_env):
    gen_id = trust["hostile"]
    at = history_page(id=gen_id)
    at.button(key=f"rerun-{gen_id}").click().run()
    assert "Queued again with the same seed" in shown(at)
    assert all(b.key != f"rerun-yes-{gen_id}" for b in at.button)


#: Invisible characters `literal` may put into a link-like text so that it stays text.
_INVISIBLE = dict.fromkeys(map(ord, "\u2060\u200b\u200c\u200d\ufeff"))


def assert_literal(markdown: str) -> None:
    """The hostile message is in `markdown`, every Markdown character escaped."""
    markdown = markdown.translate(_INVISIBLE)
    assert "\\[Click here\\]\\(http\\:" in markdown
    assert "\\!\\[x\\]" in markdown and "\\:red\\[\\*\\*URGENT\\*\\*\\]" in markdown
    assert "](" not in markdown and ":red[" not in markdown


def test_a_hostile_error_message_is_shown_as_text(trust):
    at = history_page()
    errors = [e.value for e in at.error if "Click here" in e.value]
    assert len(errors) == 1
    assert_literal(errors[0])
    assert "[Click here](http://evil.example/x)" in plain(errors[0]).translate(_INVISIBLE)
    at = history_page(id=trust["hostile"])
    errors = [e.value for e in at.error if "Click here" in e.value]
    assert errors and all(assert_literal(e) is None for e in errors)
    assert "](" not in markdown_of(at).replace(HOSTILE, "")  # anywhere else on the page


def test_settings_from_an_edited_log_are_literal_in_captions(trust, studio_env):
    log = HistoryLog(studio_env)
    gen_id = log.record_pending(GenerationRequest.create("Odd settings", "5", "16:9", 1))
    # A hand-edited log: settings that are Markdown.
    with open(studio_env / "history.csv", "a", encoding="utf-8") as handle:
        handle.write(f"{gen_id},2026-01-01T10:00:00+00:00,failed,Odd settings,"
                     "[5](http://evil.example),:red[x],1,,,,,boom\n")
    at = history_page(id=gen_id)
    captions = "\n".join(c.value for c in at.caption)
    assert "](" not in captions and ":red[" not in captions
    assert "[5](http://evil.example) s" in plain(captions).translate(_INVISIBLE)


def formula_like(cell: object) -> bool:
    return isinstance(cell, str) and cell[:1] != "" and cell[0] in "=+-@\t\r"


def test_tables_hold_spreadsheet_safe_text(trust):
    at = history_page(view="Table")
    table = at.dataframe[0].value.set_index("Id")
    assert table.loc[trust["formula"], "Prompt"] == "'" + FORMULA_PROMPT
    assert table.loc[trust["formula"], "Error"].startswith("'@SUM(1+1)")
    for column in table.columns:
        for cell in table[column]:
            assert not formula_like(cell), (column, cell)
    at = history_page(id=trust["formula"])
    values = facts(at)
    assert not any(formula_like(v) for v in values)
    at = history_page(compare=f"{trust['formula']},{trust['ready']}")
    compared = at.dataframe[-1].value
    assert compared.loc["Prompt", "A"] == "'" + FORMULA_PROMPT
    assert not any(formula_like(v) for v in compared.to_numpy().ravel())


def test_no_nul_reaches_an_export(studio_env):
    log = HistoryLog(studio_env)
    succeed(log, studio_env, "A prompt", seed=4)
    frame = log.load()
    # Text with NUL in it, as an edited log or an older version may hold it.
    frame.loc[0, "prompt"] = "Nul\x00=SUM(1) prompt"
    frame.loc[0, "notes"] = "a\x00b"
    frame.loc[0, "tags"] = "x\x00y"
    frame.loc[0, "template_vars"] = '{"product": "shoe\\u0000s"}'
    frame.loc[0, "error"] = "\x00=cmd|' /C calc'!A0"
    data = export_csv(frame)
    assert b"\x00" not in data
    assert b"Nul=SUM(1) prompt" in data and b",ab," in data and b"'=cmd" in data
    records = json.loads(export_json(frame))
    assert "\x00" not in json.dumps(records, ensure_ascii=False)
    assert "\\u0000" not in export_json(frame).decode()
    assert records[0]["prompt"] == "Nul=SUM(1) prompt" and records[0]["notes"] == "ab"
    assert records[0]["tags"] == ["xy"] and records[0]["template_vars"] == {"product": "shoes"}
    name = video_file_name({"id": "abc\x00/../x", "prompt": "p\x00q", "seed": 1,
                            "created_at": None})
    assert "\x00" not in name and "/" not in name and ".." not in name


def test_notes_show_their_limit_and_keep_too_long_text(trust, studio_env):
    gen_id = trust["ready"]
    at = history_page(id=gen_id)
    assert f"0 / {MAX_NOTES_CHARS:,} characters" in shown(at)
    at.text_area(key=f"notes-{gen_id}").input("Hero shot for the launch").run()
    assert f"24 / {MAX_NOTES_CHARS:,} characters" in shown(at)
    too_long = "x" * (MAX_NOTES_CHARS + 25)
    at.text_area(key=f"notes-{gen_id}").input(too_long).run()
    assert not at.exception
    assert "25 characters too long" in shown(at)
    assert at.text_area(key=f"notes-{gen_id}").value == too_long  # nothing lost
    assert at.button(key=f"save-notes-{gen_id}").disabled
    at.text_area(key=f"notes-{gen_id}").input(too_long[:MAX_NOTES_CHARS]).run()
    assert "too long" not in shown(at)
    at.button(key=f"save-notes-{gen_id}").click().run()
    assert HistoryLog(studio_env).get(gen_id)["notes"] == too_long[:MAX_NOTES_CHARS]


@pytest.mark.parametrize("params", [
    {"page": "9" * 5000}, {"page": "-3"}, {"page": "0x1f"}, {"page": "1.5"},
    {"view": "Table", "table_page": "1e999"}, {"status": "Failed\x00"},
    {"status": "%FF%00"}, {"ratio": "1:1"}, {"duration": "9" * 5000},
    {"from": "2025-13-45", "to": "\x00"}, {"from": "99999-01-01"}, {"min_rating": "9" * 5000},
    {"sort": "\x00"}, {"view": "<script>"}, {"q": "\x00" * 50}, {"q": "(" * 5000},
    {"template": "../../etc/passwd"}, {"review": "%00"}, {"fav": "%ED%A0%80"},
    {"compare": "x," * 3000}, {"page": ["1", "2", "3"]},
])
def test_hostile_url_parameters_are_ignored(trust, params):
    at = history_page(**params)
    assert not at.exception
    assert "**5** generations" in shown(at) or "of 5 generations match" in shown(at)


@pytest.mark.parametrize("value", ["\x00", "a" * 5000, "%00", "../../etc/passwd", "%ED%A0%80",
                                   "x" * 79 + "\x00"])
def test_hostile_id_parameters_end_in_a_plain_message(trust, value):
    at = history_page(id=value)
    assert "does not point to a generation" in shown(at)
