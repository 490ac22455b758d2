"""The recipe travels with the file: written by remux (packets untouched), read back."""

from __future__ import annotations

import pytest

from kling.assembly import AssemblyError, read_recipe, write_recipe
from kling.assembly.recipe import decode_recipe, encode_recipe

from .support import top_level_boxes, video_packets

RECIPE = {
    "prompt": "Café terrace at dawn — steam rising", "style": "35 mm film grain",
    "seed": 42, "model": "kling-2.1-master", "duration": "5", "aspect_ratio": "16:9",
    "template_id": "product-spin", "template_version": 3, "storyboard_id": "sb-1",
    "shot": 2, "studio_version": "1.4.0",
}


def test_recipe_round_trips_and_the_video_packets_are_untouched(media, tmp_path):
    clip = media.clips[0]
    tagged = tmp_path / "tagged.mp4"
    write_recipe(clip, tagged, RECIPE)
    assert read_recipe(tagged) == RECIPE
    # A remux: every video packet is byte for byte what it was.
    assert video_packets(tagged) == video_packets(clip)
    assert top_level_boxes(tagged).index("moov") < top_level_boxes(tagged).index("mdat")


def test_a_spot_recipe_lists_its_clips_and_can_be_rewritten_in_place(media, tmp_path):
    spot = tmp_path / "spot.mp4"
    write_recipe(media.clips[1], spot, {"storyboard_id": "sb-1"})
    recipe = {"storyboard_id": "sb-1", "clips": [RECIPE, {**RECIPE, "shot": 3}],
              "future_field": {"kept": True}}
    write_recipe(spot, spot, recipe)
    assert read_recipe(spot) == recipe
    assert [p.name for p in tmp_path.iterdir()] == ["spot.mp4"]


def test_a_file_without_a_recipe_has_none(media):
    assert read_recipe(media.clips[0]) is None
    assert decode_recipe('{"prompt": "not ours"}') is None
    assert decode_recipe("plain words") is None


def test_a_file_that_is_not_a_video_is_a_plain_error(media, tmp_path):
    with pytest.raises(AssemblyError, match="cannot be read: it is not a video file"):
        read_recipe(media.text_file)
    with pytest.raises(AssemblyError, match="does not exist"):
        write_recipe(tmp_path / "missing.mp4", tmp_path / "out.mp4", RECIPE)
    assert not (tmp_path / "out.mp4").exists()


def test_only_json_objects_are_recipes():
    with pytest.raises(ValueError):
        encode_recipe(["not", "a", "dict"])
    with pytest.raises(ValueError):
        encode_recipe({"seed": float("nan")})
