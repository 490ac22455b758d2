"""The recipe that travels with a video file: how it was made, as JSON in the MP4's
`comment` tag, which players, FFmpeg and PyAV all show and keep.

A recipe is a dict with the fields in `RECIPE_FIELDS` (a spot also lists the recipes of
its clips under `clips`); fields it does not know are kept too, so a newer studio's
recipe survives an older one. `write_recipe` puts one into a copy of a file by remuxing
(every packet copied as it is, never re-encoded); `read_recipe` reads it back.
"""

from __future__ import annotations

import json
import os
from typing import Any

from ..errors import AssemblyError
from .media import open_input, packets
from .output import RECIPE_TAG, atomic_output, open_mp4

RECIPE_FIELDS = (
    "prompt", "style", "seed", "model", "duration", "aspect_ratio", "template_id",
    "template_version", "storyboard_id", "shot", "studio_version", "clips",
)
#: Marks the tag's JSON as a Kling Studio recipe, and which layout of it.
_MARK, _LAYOUT = "kling_studio_recipe", 1
# Container tags the muxer writes itself; copying them would only describe the source.
_MUXER_TAGS = frozenset({"major_brand", "minor_version", "compatible_brands", "encoder"})


def encode_recipe(recipe: dict[str, Any]) -> str:
    """The tag's text for `recipe`; ValueError if it is not a JSON object."""
    if not isinstance(recipe, dict):
        raise ValueError(f"a recipe is a dict, not {type(recipe).__name__}")
    try:
        return json.dumps({_MARK: _LAYOUT, "recipe": recipe}, ensure_ascii=False,
                          sort_keys=True, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"a recipe holds only JSON values: {exc}") from None


def decode_recipe(text: str | None) -> dict[str, Any] | None:
    """The recipe in a tag's text; None if the text is not one of ours."""
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError:
        return None
    if isinstance(data, dict) and data.get(_MARK) == _LAYOUT \
            and isinstance(data.get("recipe"), dict):
        return data["recipe"]
    return None


def read_recipe(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The recipe kept in a video, or None if it has none; AssemblyError if the file
    cannot be read as a video at all."""
    with open_input(path, "The video") as container:
        return decode_recipe(container.metadata.get(RECIPE_TAG))


def write_recipe(src: str | os.PathLike[str], dst: str | os.PathLike[str],
                 recipe: dict[str, Any]) -> None:
    """Write `src` to `dst` with `recipe` in its metadata (`dst` may be `src`).

    Every stream is copied packet for packet; the file is written whole or not at all.
    """
    text = encode_recipe(recipe)
    with atomic_output(dst) as temporary:
        with open_input(src, "The video") as source, open_mp4(temporary) as out:
            for key, value in source.metadata.items():
                if key not in _MUXER_TAGS:
                    out.metadata[key] = value
            out.metadata[RECIPE_TAG] = text
            streams = [s for s in source.streams if s.type in ("video", "audio")]
            if not any(s.type == "video" for s in streams):
                raise AssemblyError("The video cannot be read: it has no picture.")
            targets = {}
            for stream in streams:
                targets[stream.index] = out.add_stream_from_template(stream)
                targets[stream.index].metadata.update(stream.metadata)
            for packet in packets(source, streams, "The video"):
                if packet.dts is None:  # the demuxer's end-of-stream marker
                    continue
                packet.stream = targets[packet.stream.index]
                out.mux(packet)
