"""Playing a generation's video: the archive first, the provider's link second.

The video is always found by the generation's own id in the archive, never by a path
read from the log, so an edited log cannot make the page serve another file. An archive
in a bucket gives a presigned link that the browser plays from directly (any replica
shows any video, and no replica holds it in memory); a local archive's file is served
by Streamlit.
"""

from __future__ import annotations

import streamlit as st

from kling.archive import VideoArchive
from kling.errors import ArchiveError


def _link(archive: VideoArchive, gen_id: str, download_name: str | None = None) -> str | None:
    try:
        return archive.url_for(gen_id, download_name=download_name)
    except ArchiveError:  # not one of our ids, or the bucket cannot be asked
        return None


def _archived(archive: VideoArchive, gen_id: str):
    try:
        return archive.path_for(gen_id) if archive.exists(gen_id) else None
    except ArchiveError:  # not one of our ids
        return None


def play_video(archive: VideoArchive, gen_id: str, video_url: object) -> bool:
    """Show the video; a clear note instead when neither copy can be played."""
    link = _link(archive, gen_id)
    if link is not None:
        st.video(link)
        return True
    path = _archived(archive, gen_id)
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


def download_video_button(archive: VideoArchive, gen_id: str, *, key: str) -> None:
    """A download button for the archived MP4 (read only when clicked)."""
    name = f"kling-{gen_id}.mp4"
    link = _link(archive, gen_id, download_name=name)
    if link is not None:
        st.link_button("Download", link, icon=":material/download:")
        return
    path = _archived(archive, gen_id)
    if path is None:
        return
    st.download_button(
        "Download", data=path.read_bytes, file_name=name,
        mime="video/mp4", key=key, on_click="ignore", icon=":material/download:",
    )
