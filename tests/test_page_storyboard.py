"""The Storyboard page through AppTest: create, write shots, generate, pick, assemble.

The page runs against the demo simulator with no latency, in this process, so the takes
really are generated, archived and assembled; the test waits on the history (the state
the page shows), rerunning the page as its refreshing parts would.
"""

from __future__ import annotations

import av
from streamlit.testing.v1 import AppTest

from kling.history import HistoryLog
from kling.storyboards import StoryboardLibrary
from tests.conftest import ROOT
from tests.page_text import plain

TIKTOK = "builtin-tiktok-hook"


def storyboard_page() -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.run()
    at.switch_page("pages/storyboard.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run(widget) -> AppTest:
    at = widget.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def texts(elements) -> str:
    return plain(" ".join(str(e.value) for e in elements))


def wait_for(at: AppTest, done, what: str, attempts: int = 120) -> AppTest:
    """Rerun the page until `done()` holds (the jobs and the assembly are real threads)."""
    for _ in range(attempts):
        if done():
            return at.run()
        at.run(timeout=60)
    raise AssertionError(f"{what} never happened")


def test_an_empty_page_invites_the_first_storyboard(studio_env):
    at = storyboard_page()
    assert "Create a storyboard on the left" in texts(at.info)
    assert any(b.label == "Create storyboard" for b in at.button)


def test_create_write_generate_pick_and_assemble(studio_env):
    at = storyboard_page()
    run(at.text_input(key="sb_new_title").input("Summer drop"))
    at = run(next(b for b in at.button if b.label == "Create storyboard").click())
    (board,) = StoryboardLibrary(studio_env).all()
    assert board.title == "Summer drop" and len(board.shots) == 2

    run(at.text_input(key=f"sb_{board.id}_style").input("golden hour light"))
    first, second = (s.key for s in board.shots)
    run(at.selectbox(key=f"sb_{board.id}_{first}_template").select(TIKTOK))
    run(at.text_area(key=f"sb_{board.id}_{second}_prompt")
        .input("A fox runs through snow, tracking shot, slow motion"))
    run(at.text_input(key=f"sb_{board.id}_{second}_caption").input("Fresh every day"))
    run(at.number_input(key=f"sb_{board.id}_{first}_takes").set_value(2))
    board = StoryboardLibrary(studio_env).get(board.id)
    assert board.shots[0].template_id == TIKTOK and board.shots[0].takes == 2
    assert board.shots[1].caption == "Fresh every day"

    # The cost is named before anything is sent.
    run(at.button(key=f"sb_generate_{board.id}").click())
    assert HistoryLog(studio_env).load().empty
    confirm = at.button(key=f"sb_generate_yes_{board.id}")
    assert confirm.label == "Queue 3 takes ($4.20)"
    run(confirm.click())
    history = HistoryLog(studio_env)
    takes = history.load()
    assert len(takes) == 3 and set(takes["storyboard_id"]) == {board.id}
    assert sorted(takes["shot"]) == sorted([first, first, second])
    first_seeds = sorted(takes.loc[takes["shot"] == first, "seed"])
    assert first_seeds[1] == first_seeds[0] + 1  # consecutive seeds within a shot
    assert all(p.endswith("golden hour light") for p in takes["prompt"])

    wait_for(at, lambda: history.load()["status"].eq("succeeded").all(), "the takes")
    assert "Picked" in texts(at.markdown)

    run(at.button(key=f"sb_assemble_{board.id}").click())
    wait_for(at, lambda: StoryboardLibrary(studio_env).get(board.id).assembled is not None,
             "the assembly")
    spot_id = StoryboardLibrary(studio_env).get(board.id).assembled
    spot = history.get(spot_id)
    assert spot["source"] == "assembly" and spot["cost_usd"] == 0
    with av.open(spot["video_path"]) as container:
        seconds = float(container.duration) / av.time_base
    # Two 5 s shots with the default 0.5 s crossfade.
    assert abs(seconds - 9.5) < 0.1
    assert "kept in History" in texts(at.caption)
