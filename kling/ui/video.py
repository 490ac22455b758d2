"""Playing a generation's video: the local archive first, the provider's link second."""

from __future__ import annotations

from pathlib import Path

import streamlit as st


def video_file(video_path: object) -> Path | None:
    """The archived file, if it is really there."""
    if isinstance(video_path, (str, Path)) and str(video_path):
        path = Path(video_path)
        if path.is_file():
            return path
    return None


def play_video(video_path: object, video_url: object) -> bool:
    """Show the video; a clear note instead when neither copy can be played."""
    path = video_file(video_path)
    if path is not None:
        st.video(str(path))
        return True
    if isinstance(video_url, str) and video_url.startswith(("http://", "https://")):
        st.video(video_url)
        st.caption("Playing from the provider's link: the local copy is missing, and "
                   "the link may expire.")
        return True
    st.info("This video cannot be played: there is no local copy and no link.",
            icon=":material/videocam_off:")
    return False


def download_video_button(video_path: object, gen_id: str, *, key: str) -> None:
    """A download button for the archived MP4 (read only when clicked)."""
    path = video_file(video_path)
    if path is None:
        return
    st.download_button(
        "Download", data=path.read_bytes, file_name=f"kling-{gen_id}.mp4",
        mime="video/mp4", key=key, on_click="ignore", icon=":material/download:",
    )
