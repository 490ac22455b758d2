"""A browser whose person tampers with the page: every control the studio sends disabled
arrives enabled, as if re-enabled by hand in the developer tools. Clicking one then sends
the server the very request a crafted client would."""

from __future__ import annotations

import re

from google.protobuf.message import Message
from playwright.sync_api import Page, WebSocketRoute
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

_STREAM = re.compile(r"/_stcore/stream")


def _enable(element: Message) -> bool:
    """Clears `disabled` on the widget inside a delta's element; True when it was set."""
    kind = element.WhichOneof("type")
    widget = getattr(element, kind) if kind else None
    if widget is None or "disabled" not in widget.DESCRIPTOR.fields_by_name:
        return False
    was = widget.disabled
    widget.disabled = False
    return was


def _tampered(message: str | bytes) -> str | bytes:
    if isinstance(message, str):
        return message
    forward = ForwardMsg.FromString(message)
    if forward.WhichOneof("type") != "delta" or not forward.delta.HasField("new_element"):
        return message
    return forward.SerializeToString() if _enable(forward.delta.new_element) else message


def enable_disabled_controls(page: Page) -> None:
    """From the next connection on, every disabled control on `page` arrives enabled."""
    def route(socket: WebSocketRoute) -> None:
        server = socket.connect_to_server()
        server.on_message(lambda message: socket.send(_tampered(message)))
        socket.on_message(server.send)

    page.route_web_socket(_STREAM, route)
