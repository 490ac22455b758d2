"""`python -m kling assemble` and `inspect`: the spot and its formats from history ids,
and the recipe every archived video carries."""

from __future__ import annotations

import json
from pathlib import Path

import av

from test_cli import Run, one_line_error


def generate(data_dir: Path, prompt: str, seed: int) -> str:
    code, out, err = Run.start(["generate", "--prompt", prompt, "--seed", str(seed), "--json"],
                               data_dir).out
    assert code == 0, err
    (row,) = Run([], data_dir, None).history().query(f"seed == {seed}").itertuples()
    return row.id


def seconds(path: Path) -> float:
    with av.open(str(path)) as container:
        return float(container.duration) / av.time_base


def test_every_archived_video_carries_its_recipe(tmp_path):
    data = tmp_path / "data"
    gen_id = generate(data, "Waves crash on black sand, drone shot, slow motion", 7)
    code, out, err = Run.start(["inspect", str(data / "videos" / f"{gen_id}.mp4")], data).out
    assert code == 0, err
    recipe = json.loads(out)
    assert recipe["id"] == gen_id and recipe["seed"] == 7
    assert recipe["prompt"] == "Waves crash on black sand, drone shot, slow motion"
    assert recipe["model"] == "kling-2-1-master" and recipe["duration"] == "5"


def test_assemble_from_ids_with_captions_and_formats(tmp_path):
    data = tmp_path / "data"
    first = generate(data, "A fox runs through snow, tracking shot", 1)
    second = generate(data, "A sneaker splashes into a pool, slow motion", 2)
    captions = tmp_path / "captions.txt"
    captions.write_text("Fresh snow\nFresh drop\n", encoding="utf-8")
    out = tmp_path / "spot" / "summer.mp4"
    out.parent.mkdir()
    code, stdout, err = Run.start(["assemble", first, second, "--out", str(out),
                                   "--crossfade", "0.5", "--captions", str(captions),
                                   "--formats", "1:1,9:16"], data).out
    assert code == 0, err
    assert abs(seconds(out) - 9.5) < 0.1
    written = [Path(line) for line in stdout.splitlines()]
    assert written[0] == out and len(written) == 3
    square = next(p for p in written if "square" in p.name)
    with av.open(str(square)) as container:
        stream = container.streams.video[0]
        assert stream.width == stream.height
    code, stdout, _ = Run.start(["inspect", str(out)], data).out
    assert [clip["id"] for clip in json.loads(stdout)["clips"]] == [first, second]


def test_assemble_refuses_bad_input_with_one_line(tmp_path):
    data = tmp_path / "data"
    code, _, err = Run.start(["assemble", "20260101-000000-deadbeef", "--out",
                              str(tmp_path / "x.mp4")], data).out
    assert code == 2 and "not a generation with a video" in one_line_error(err)
    code, _, err = Run.start(["assemble", "a", "--out", "x.mp4", "--crossfade", "3"], data).out
    assert code == 2 and "--crossfade" in one_line_error(err)
    code, _, err = Run.start(["assemble", "a", "--out", "x.mp4", "--formats", "4:3"], data).out
    assert code == 2 and "--formats" in one_line_error(err)
    text = tmp_path / "not-a-video.mp4"
    text.write_text("hello", encoding="utf-8")
    code, _, err = Run.start(["inspect", str(text)], data).out
    assert code == 2 and one_line_error(err)
