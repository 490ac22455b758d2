"""A light client of Streamlit's browser protocol: one open tab, without a browser.

What Streamlit's web client does, and so what this does:

* it opens a websocket to `/_stcore/stream` (sub-protocol `streamlit`) and starts a run
  with a `rerun_script` BackMsg whose `ClientState` names the page (`page_name`, the URL
  path; `page_script_hash` once the server told it) and carries the query string;
* it answers the server's ForwardMsgs: `new_session` starts a run (a whole-app run, one
  whose `metadata.run.fragment_ids` is empty, cancels every auto-rerun timer),
  `auto_rerun` starts a timer that sends a fragment rerun (`fragment_id`,
  `is_auto_rerun`) every `interval` seconds (`st.fragment(run_every=...)`),
  `stop_auto_rerun` cancels one, `script_finished` ends a run;
* a click sends `rerun_script` with the widget states, the clicked button as a trigger.

Widgets are found by the labels of the elements the server sent (`delta.new_element`).
The client does not render anything; it keeps the few facts a benchmark needs: how many
runs (and fragment runs) the server made for it, and the job panel's counts.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ClientState_pb2 import ClientState
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

_RUNNING = re.compile(r"^(\d+) running · ")
_ENDED = (ForwardMsg.FINISHED_SUCCESSFULLY, ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
          ForwardMsg.FINISHED_WITH_COMPILE_ERROR)


@dataclass
class Counts:
    runs: int = 0              # whole-app runs that ended
    fragment_runs: int = 0     # fragment runs that ended (timers included)
    auto_reruns_sent: int = 0  # fragment reruns this client's timers asked for


@dataclass
class LightSession:
    """One tab on `page` ("" for the default page) of the studio at `ws_url`."""

    ws_url: str
    page: str = ""
    query_string: str = ""
    counts: Counts = field(default_factory=Counts)
    #: The job panel's "N running" as last drawn; None before the panel said anything.
    running: int | None = None

    def __post_init__(self) -> None:
        self._ws = None
        self._page_hash = ""
        self._widgets: dict[tuple[str, str], str] = {}   # (kind, label) -> widget id
        self._timers: dict[str, asyncio.Task] = {}
        self._finished = asyncio.Event()
        self._reader: asyncio.Task | None = None
        self._closed = False

    # -- the connection ------------------------------------------------------------------
    async def open(self, timeout: float = 120) -> None:
        """Connect and wait for the first whole-app run to end."""
        self._ws = await websockets.connect(
            self.ws_url, subprotocols=["streamlit"], max_size=None, ping_interval=None,
            open_timeout=timeout)
        self._reader = asyncio.create_task(self._read())
        await self.rerun(timeout=timeout)

    async def close(self) -> None:
        self._closed = True
        for task in self._timers.values():
            task.cancel()
        self._timers.clear()
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, websockets.ConnectionClosed):
                pass

    async def _send(self, state: ClientState) -> None:
        msg = BackMsg()
        msg.rerun_script.CopyFrom(state)
        await self._ws.send(msg.SerializeToString())

    def _state(self) -> ClientState:
        state = ClientState(query_string=self.query_string, page_script_hash=self._page_hash,
                            page_name="" if self._page_hash else self.page)
        state.context_info.timezone = "UTC"
        state.context_info.locale = "en-US"
        return state

    async def rerun(self, widgets: dict[str, object] | None = None,
                    timeout: float = 120) -> None:
        """A whole-app run, with these widget values (by id); waits until it ended.

        Values: True clicks a button, text fills a text box or picks a radio's option
        (as shown), a number sets a number input, a list a slider.
        """
        state = self._state()
        for widget_id, value in (widgets or {}).items():
            w = state.widget_states.widgets.add()
            w.id = widget_id
            if value is True:  # a button
                w.trigger_value = True
            elif isinstance(value, str):  # text, or a radio's option as it is shown
                w.string_value = value
            elif isinstance(value, (int, float)):  # a number input
                w.double_value = float(value)
            else:  # a slider
                w.double_array_value.data.extend(float(v) for v in value)
        self._finished.clear()
        await self._send(state)
        await asyncio.wait_for(self._finished.wait(), timeout)

    def widget(self, kind: str, label: str) -> str:
        """The id of the `kind` widget (`"button"`, `"text_area"`...) labelled `label`."""
        return self._widgets[(kind, label)]

    # -- what the server sends ----------------------------------------------------------
    async def _read(self) -> None:
        try:
            async for data in self._ws:
                msg = ForwardMsg()
                msg.ParseFromString(data)
                self._handle(msg)
        except websockets.ConnectionClosed:
            pass
        finally:
            for task in self._timers.values():
                task.cancel()

    def _handle(self, msg: ForwardMsg) -> None:
        kind = msg.WhichOneof("type")
        if kind == "new_session":
            self._page_hash = msg.new_session.page_script_hash or self._page_hash
            if not msg.metadata.run.fragment_ids:  # a whole-app run: the timers restart
                for task in self._timers.values():
                    task.cancel()
                self._timers.clear()
        elif kind == "auto_rerun":
            fragment, interval = msg.auto_rerun.fragment_id, msg.auto_rerun.interval
            if fragment and fragment not in self._timers:
                self._timers[fragment] = asyncio.create_task(self._tick(fragment, interval))
        elif kind == "stop_auto_rerun":
            for fragment in msg.stop_auto_rerun.fragment_ids:
                task = self._timers.pop(fragment, None)
                if task is not None:
                    task.cancel()
        elif kind == "page_info_changed":
            self.query_string = msg.page_info_changed.query_string
        elif kind == "delta":
            self._element(msg.delta)
        elif kind == "script_finished" and msg.script_finished in _ENDED:
            if msg.metadata.run.fragment_ids:
                self.counts.fragment_runs += 1
            else:
                self.counts.runs += 1
                self._finished.set()

    def _element(self, delta) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind == "markdown":
            match = _RUNNING.match(element.markdown.body)
            if match:
                self.running = int(match.group(1))
            return
        widget = getattr(element, kind, None) if kind else None
        label, widget_id = getattr(widget, "label", None), getattr(widget, "id", None)
        if isinstance(label, str) and isinstance(widget_id, str) and widget_id:
            self._widgets[(kind, label)] = widget_id

    async def _tick(self, fragment: str, interval: float) -> None:
        while not self._closed:
            await asyncio.sleep(interval)
            state = self._state()
            state.fragment_id = fragment
            state.is_auto_rerun = True
            try:
                await self._send(state)
            except websockets.ConnectionClosed:
                return
            self.counts.auto_reruns_sent += 1
