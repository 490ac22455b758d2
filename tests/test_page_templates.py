"""The Templates page through AppTest: browse, fill in, hand over, manage, import.

Each test drives the page as a person would (widgets found by key) and checks what the
person sees and what the library and history hold afterwards.
"""

from __future__ import annotations

import json
import time

from streamlit.testing.v1 import AppTest

from kling.history import HistoryLog
from kling.templates.builtin import BUILTIN_TEMPLATES
from kling.templates.library import TemplateLibrary
from kling.templates.transfer import IMPORT_LIMITS_TEXT, MAX_IMPORT_BYTES
from tests.conftest import ROOT
from tests.page_text import plain

TIKTOK = "builtin-tiktok-hook"


def templates_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30)
    at.run()
    at.switch_page("pages/templates.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(widget) -> AppTest:
    """Run the page after an interaction and insist nothing crashed."""
    at = widget.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def cards(at: AppTest) -> list[str]:
    """Ids of the templates shown as cards, in order."""
    return [b.key.removeprefix("tpl_open_") for b in at.button
            if b.key and b.key.startswith("tpl_open_")]


def texts(elements) -> str:
    return " ".join(str(e.value) for e in elements)


def rendered_prompt(at: AppTest) -> str:
    return at.code[0].value


def open_template(at: AppTest, template_id: str) -> AppTest:
    return run(at.button(key=f"tpl_open_{template_id}").click())


def create_template(at: AppTest, name: str, body: str, **defaults: str) -> AppTest:
    """Write a new template in the page's form and save it."""
    run(at.button(key="tpl_new").click())
    run(at.text_input(key="tpl_draft_name").input(name))
    run(at.text_area(key="tpl_draft_body").input(body))
    for variable, default in defaults.items():
        run(at.text_input(key=f"tpl_draft_var_{variable}_default").input(default))
    return run(at.button(key="tpl_create").click())


def test_lists_the_builtins_and_search_and_filters_narrow_them(studio_env):
    at = templates_page()
    everything = cards(at)
    assert len(everything) >= 12
    assert all(template_id.startswith("builtin-") for template_id in everything)

    run(at.text_input(key="tpl_search").input("tiktok"))
    found = cards(at)
    assert TIKTOK in found and 0 < len(found) < len(everything)
    assert "of" in texts(at.caption)  # "n of m templates"

    run(at.text_input(key="tpl_search").input(""))
    run(at.pills(key="tpl_category").set_value("Storytelling"))
    library = TemplateLibrary(studio_env)
    assert cards(at) == [t.id for t in library.search(category="Storytelling")]
    assert len(cards(at)) < len(everything)

    run(at.pills(key="tpl_category").set_value(None))
    run(at.multiselect(key="tpl_tags").set_value(["drone"]))
    assert cards(at) == [t.id for t in library.search(tags=["drone"])]

    run(at.text_input(key="tpl_search").input("no template says this"))
    assert cards(at) == []
    assert "No template matches" in texts(at.info)


def test_card_shows_what_a_template_is_and_how_it_did(studio_env):
    at = templates_page()
    captions = texts(at.caption)
    assert "A punchy first second that stops the scroll" in captions
    assert "#tiktok" in captions
    assert "Not used yet" in captions
    # The prompt preview highlights each blank.
    assert ":violet-background[subject] bursts into frame" in texts(at.markdown)


def test_filling_the_variables_updates_the_prompt_and_its_advice(studio_env):
    at = open_template(templates_page(), TIKTOK)
    assert [t.label for t in at.text_input if t.key.startswith("tpl_var_")] == [
        "Subject", "Color", "Item"]  # two columns: Subject | Item, then Color
    before = rendered_prompt(at)
    assert "an iced coffee" in before  # examples fill the blanks at first

    run(at.text_input(key=f"tpl_var_{TIKTOK}_v1_item").input("a can of sparkling yuzu soda"))
    after = rendered_prompt(at)
    assert "holding a can of sparkling yuzu soda" in after
    assert f"{len(after)} characters" in texts(at.caption)
    assert "Prompt coach" in texts(at.markdown)


def test_use_in_generate_fills_the_generate_form_and_records_the_template(studio_env):
    at = open_template(templates_page(), "builtin-travel-teaser")
    run(at.text_input(key="tpl_var_builtin-travel-teaser_v1_landmark").input("Lisbon's rooftops"))
    prompt = rendered_prompt(at)
    run(at.button(key="tpl_use_in_generate").click())

    assert at.text_area(key="gen_prompt").value == prompt
    assert [a for a in at.text_area if a.label == "Prompt"][0].value == prompt
    assert at.radio(key="gen_aspect").value == "9:16"
    assert at.radio(key="gen_duration").value == "5"
    assert "Travel teaser" in texts(at.info)

    # AppTest reruns the page it was last switched to, so follow the switch explicitly.
    run(at.switch_page("pages/generate.py"))
    assert at.text_area(key="gen_prompt").value == prompt
    run(at.button(key="generate").click())
    row = HistoryLog(studio_env).load().iloc[-1]
    assert row["template_id"] == "builtin-travel-teaser"
    assert int(row["template_version"]) == 1


def test_a_blank_without_example_names_itself_instead_of_crashing(studio_env):
    at = create_template(templates_page(), "Hero run", "{hero} runs along the beach, "
                         "drone shot following, slow motion")
    template = TemplateLibrary(studio_env).user_templates()[0]
    assert "Hero run" in texts(at.success)
    assert "hero" in texts(at.warning)  # "Fill in 'hero': it has no default."
    assert at.button(key="tpl_use_in_generate").disabled
    assert at.button(key="tpl_generate_now").disabled

    run(at.text_input(key=f"tpl_var_{template.id}_v1_hero").input("A golden retriever"))
    assert not at.warning
    assert rendered_prompt(at).startswith("A golden retriever runs along the beach")
    assert not at.button(key="tpl_use_in_generate").disabled


def test_generate_now_queues_variations_and_says_where_they_appear(studio_env):
    at = open_template(templates_page(), "builtin-product-360")
    run(at.slider(key="tpl_takes").set_value(3))
    assert "$4.20" in texts(at.metric)
    run(at.button(key="tpl_generate_now").click())

    assert "Queued 3 videos" in texts(at.success)
    assert [link.label for link in at.get("page_link")
            if "Generate page" in link.label]
    log = HistoryLog(studio_env).load()
    assert len(log) == 3
    assert set(log["template_id"]) == {"builtin-product-360"}

    deadline = time.monotonic() + 30
    while not HistoryLog(studio_env).load()["status"].eq("succeeded").all():
        assert time.monotonic() < deadline, "the videos never finished"
        time.sleep(0.3)
    run(at)
    assert "Used 3×" in texts(at.caption)
    assert "100% succeeded" in texts(at.caption)


def test_create_edit_compare_restore_and_delete_through_the_page(studio_env):
    at = create_template(templates_page(), "Summer drop",
                         "{product} splashes into a pool, drone shot, slow motion",
                         product="A neon sneaker")
    library = TemplateLibrary(studio_env)
    (template,) = library.user_templates()
    assert template.version == 1 and template.variables[0].default == "A neon sneaker"
    assert at.session_state["tpl_selected"] == template.id
    assert rendered_prompt(at).startswith("A neon sneaker splashes")

    # Edit: a new version, and the earlier one is kept.
    run(at.segmented_control(key=f"tpl_mode_{template.id}").set_value("Edit"))
    prefix = f"tpl_edit_{template.id}_v1"
    run(at.text_area(key=f"{prefix}_body").input(
        "{product} splashes into a {place}, drone shot, slow motion"))
    run(at.text_input(key=f"{prefix}_var_place_default").input("rooftop pool"))
    run(at.button(key=f"tpl_save_{template.id}").click())
    assert "version 2" in texts(at.success)
    current = library.get(template.id)
    assert current.version == 2 and "{place}" in current.body

    # Versions: compare version 1 with the current one, then restore it.
    run(at.segmented_control(key=f"tpl_mode_{template.id}").set_value("Versions"))
    assert at.selectbox(key=f"tpl_compare_{template.id}").value == 1
    shown = texts(at.text)
    assert "{product} splashes into a pool" in shown and "{place}" in shown
    run(at.button(key=f"tpl_restore_{template.id}").click())
    assert "Restored version 1" in texts(at.success)
    restored = library.get(template.id)
    assert restored.version == 3 and restored.body == template.body
    assert [v.version for v in library.versions(template.id)] == [1, 2, 3]

    # Delete asks first; keeping it changes nothing.
    run(at.button(key=f"tpl_delete_{template.id}").click())
    assert "will be deleted" in texts(at.markdown)
    run(at.button(key="tpl_delete_cancel").click())
    assert library.user_templates()
    run(at.button(key=f"tpl_delete_{template.id}").click())
    run(at.button(key="tpl_delete_confirm").click())
    assert library.user_templates() == []
    assert "Deleted" in texts(at.success)
    assert template.id not in cards(at)


def test_save_errors_are_shown_by_field_and_nothing_is_saved(studio_env):
    at = templates_page()
    run(at.button(key="tpl_new").click())
    run(at.text_input(key="tpl_draft_name").input("TikTok hook"))  # a built-in's name
    run(at.text_area(key="tpl_draft_body").input("A {product runs"))
    run(at.button(key="tpl_create").click())
    errors = [e.value for e in at.error]
    assert any("already exists" in e for e in errors)
    assert any("never closed" in e for e in errors)
    assert TemplateLibrary(studio_env).user_templates() == []
    assert not (studio_env / "templates.json").exists()

    # Fixing the fields clears their messages as they are fixed.
    run(at.text_input(key="tpl_draft_name").input("Runner"))
    assert not any("already exists" in e.value for e in at.error)


def test_builtins_are_read_only_and_duplicate_to_edit(studio_env):
    at = open_template(templates_page(), TIKTOK)
    assert at.button(key=f"tpl_duplicate_{TIKTOK}").label == "Duplicate to edit"
    assert not [b for b in at.button if b.key == f"tpl_delete_{TIKTOK}"]
    assert not at.segmented_control  # no Edit or Versions for a built-in
    run(at.button(key=f"tpl_duplicate_{TIKTOK}").click())
    (copy,) = TemplateLibrary(studio_env).user_templates()
    assert copy.name == "TikTok hook (copy)" and not copy.builtin
    assert at.session_state["tpl_selected"] == copy.id
    assert at.segmented_control(key=f"tpl_mode_{copy.id}").value == "Edit"
    assert at.text_input(key=f"tpl_edit_{copy.id}_v1_name").value == "TikTok hook (copy)"


def test_a_bad_import_file_is_explained_and_changes_nothing(studio_env):
    at = create_template(templates_page(), "Keep me", "Waves crash, drone shot, slow motion")
    before = (studio_env / "templates.json").read_bytes()
    uploader = at.file_uploader[0]

    run(uploader.set_value(("broken.json", b'{"format": "kling-studio-templates",',
                            "application/json")))
    assert "not valid JSON" in texts(at.error)
    assert not [b for b in at.button if b.key == "tpl_import_apply"]

    bad_template = {"format": "kling-studio-templates", "format_version": 1,
                    "templates": [{"name": "Empty", "body": ""}]}
    run(at.file_uploader[0].set_value(("bad.json", json.dumps(bad_template).encode(),
                                       "application/json")))
    assert "Body is empty" in texts(at.error)
    assert (studio_env / "templates.json").read_bytes() == before


def test_export_then_import_with_a_name_conflict(studio_env):
    at = create_template(templates_page(), "Summer drop",
                         "A sneaker splashes into a pool, drone shot, slow motion")
    library = TemplateLibrary(studio_env)
    exported = library.export_json()
    export_button = at.get("download_button")[0]
    assert export_button.proto.label.startswith("Download 1 template")

    document = json.loads(exported)
    document["templates"].append({**document["templates"][0], "name": "Winter drop",
                                  "body": "Snow falls on a sneaker, orbit shot, slow motion"})
    run(at.file_uploader[0].set_value(("team.json", json.dumps(document).encode(),
                                       "application/json")))
    choice = [r for r in at.radio if r.key == "tpl_import_choice_0"][0]
    assert "Summer drop" in choice.label
    assert len(choice.options) == 3  # skip, replace or rename: the clash is the team's own
    assert choice.value == "rename"  # by default both are kept
    assert "Import 2 templates" in [b.label for b in at.button if b.key == "tpl_import_apply"]
    run(at.button(key="tpl_import_apply").click())

    names = sorted(t.name for t in library.user_templates())
    assert names == ["Summer drop", "Summer drop (imported)", "Winter drop"]
    assert "Imported 2 templates" in texts(at.success)


# -- a damaged template file, and files that must not crash the page --------------------

TRUNCATED = b'{"format": "kling-studio-templates", "format_version": 1, "templates": [{"id": "tpl-1'


def damage_library(data_dir, data: bytes = TRUNCATED) -> bytes:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "templates.json").write_bytes(data)
    return data


def everything_said(at: AppTest) -> list[str]:
    """Every alert, text and caption on the page, each as a person reads it."""
    return [plain(str(e.value)) for kind in (at.error, at.warning, at.info, at.success,
                                             at.markdown, at.caption)
            for e in kind]


def said(elements) -> str:
    return plain(texts(elements))


def kept_copies(data_dir) -> list:
    return sorted(data_dir.glob("templates.damaged-*.json"))


def test_a_damaged_library_keeps_the_builtins_and_says_so_once(studio_env):
    damaged = damage_library(studio_env)
    at = templates_page()
    assert len(cards(at)) == len(BUILTIN_TEMPLATES)  # the built-ins are all there

    # One message, not repeated: it names the file and what is wrong with it.
    [message] = [text for text in everything_said(at) if "is damaged" in text]
    assert message == plain(at.error[0].value) and len(at.error) == 1
    assert "templates.json" in message and "cut short" in message
    assert sum("cut short" in text for text in everything_said(at)) == 1
    # Nothing can be saved meanwhile, so nothing offers to.
    assert at.button(key="tpl_new").disabled
    assert not [b for b in at.button if b.key == "tpl_recover_restore"]  # no good copy yet

    # The built-ins are used as usual.
    at = open_template(at, TIKTOK)
    assert "an iced coffee" in rendered_prompt(at)
    assert at.button(key=f"tpl_duplicate_{TIKTOK}").disabled
    assert not at.button(key="tpl_use_in_generate").disabled

    at = run(at.button(key="tpl_recover_set_aside").click())
    assert not at.error
    [kept] = kept_copies(studio_env)
    assert kept.read_bytes() == damaged
    assert not (studio_env / "templates.json").exists()
    assert kept.name in said(at.success)
    assert not at.button(key="tpl_new").disabled
    at = create_template(at, "Fresh start", "Waves crash, drone shot, slow motion")
    assert [t.name for t in TemplateLibrary(studio_env).user_templates()] == ["Fresh start"]


def test_the_last_good_copy_can_be_restored_from_the_page(studio_env):
    library = TemplateLibrary(studio_env)
    mine = library.create(name="Keep me", body="Waves crash, drone shot, slow motion")
    damaged = damage_library(studio_env)
    at = templates_page()
    assert mine.id not in cards(at)
    restore = at.button(key="tpl_recover_restore")
    assert "1 template" in restore.label

    at = run(restore.click())
    assert not at.error
    assert mine.id in cards(at)
    assert "Restored the last good copy: your team's 1 template is back" in said(at.success)
    [kept] = kept_copies(studio_env)
    assert kept.read_bytes() == damaged
    assert library.user_templates() == [mine]


def test_a_library_from_a_newer_studio_is_named_and_left_alone(studio_env):
    data = damage_library(studio_env, json.dumps(
        {"format": "kling-studio-templates", "format_version": 2, "templates": []}).encode())
    at = templates_page()
    assert len(cards(at)) == len(BUILTIN_TEMPLATES)
    assert "newer Kling Studio" in said(at.warning) and not at.error
    assert not [b for b in at.button if (b.key or "").startswith("tpl_recover_")]
    assert (studio_env / "templates.json").read_bytes() == data


def test_a_damaged_library_does_not_stop_a_builtin_reaching_generate(studio_env):
    damage_library(studio_env)
    at = open_template(templates_page(), "builtin-travel-teaser")
    prompt = rendered_prompt(at)
    run(at.button(key="tpl_use_in_generate").click())
    run(at.switch_page("pages/generate.py"))
    assert at.text_area(key="gen_prompt").value == prompt
    run(at.button(key="generate").click())
    row = HistoryLog(studio_env).load().iloc[-1]
    assert row["template_id"] == "builtin-travel-teaser"


def test_the_import_limits_are_stated_before_a_file_is_picked(studio_env):
    at = templates_page()
    assert IMPORT_LIMITS_TEXT in texts(at.caption)
    uploader = at.file_uploader[0]
    assert uploader.proto.max_upload_size_mb == MAX_IMPORT_BYTES // (1024 * 1024)


HOSTILE_UPLOADS = [
    ("brackets.json", b"[" * 100_000, "nested too deeply"),
    ("huge-number.json", b'{"format": "kling-studio-templates", "format_version": '
     + b"7" * 5000 + b', "templates": []}', "number 5,000 characters long"),
    ("utf16.json", json.dumps({"format": "kling-studio-templates", "format_version": 1,
                               "templates": [{"name": "A", "body": "Waves"}]}).encode("utf-16"),
     "UTF-16"),
    ("latin1.json", '{"format": "kling-studio-templates", "name": "Café"}'.encode("latin-1"),
     "not UTF-8"),
]


def test_hostile_import_files_end_in_a_message_and_change_nothing(studio_env):
    at = create_template(templates_page(), "Keep me", "Waves crash, drone shot, slow motion")
    before = (studio_env / "templates.json").read_bytes()
    for name, data, fragment in HOSTILE_UPLOADS:
        at = run(at.file_uploader[0].set_value((name, data, "application/json")))
        shown = said(at.error)
        assert name in shown and fragment in shown, shown
        assert "7777777777" not in shown and len(shown) < 600
        assert not [b for b in at.button if b.key == "tpl_import_apply"]
    assert (studio_env / "templates.json").read_bytes() == before
