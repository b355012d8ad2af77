"""A small Streamlit client that speaks the websocket protocol itself, with no browser.

What the browser's frontend does, cut to what a load test needs: open
`/_stcore/stream`, ask for a script run with a `BackMsg.rerun_script`
(`ClientState`: query string, every widget's current value, the page), read
`ForwardMsg`s until `script_finished`, and keep the elements of that run,
so the next action can find a widget's id by its label and send its value.

Protocol details mirrored from Streamlit 1.67's frontend:

- Every rerun sends the state of *every* widget on the page, not just the one
  that changed; a button press is a `trigger_value` sent once. A form's
  fields and its submit button's trigger go in the same rerun.
- Each script start sends `new_session`; an `st.rerun()` ends the run with
  `FINISHED_EARLY_FOR_RERUN` and a new one starts, so a rerun ends at the
  first *other* `script_finished`.
- Large element messages are sent once: the client keeps those marked
  `cacheable`, lists their hashes in `cached_message_hashes`, and the server
  then sends only a `ref_hash`. Entries unused for `max_cached_message_age`
  runs are dropped, as the frontend does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from streamlit.proto.WidgetStates_pb2 import WidgetState
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

# A widget value as Python sees it: the WidgetState field follows from the type.
WidgetValue = str | bool | int | float | Sequence[str]

RUN_TIMEOUT_SECONDS = 60.0
_FINAL = frozenset(
    {
        ForwardMsg.FINISHED_SUCCESSFULLY,
        ForwardMsg.FINISHED_WITH_COMPILE_ERROR,
        ForwardMsg.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,
    }
)
# Element kinds whose `body` is text a reader sees (a toast is an element too).
_TEXT_KINDS = ("markdown", "heading", "text", "alert", "code", "toast")


class SessionClosed(Exception):
    """The server closed the websocket (or it failed) while a run was awaited."""


class RunTimedOut(Exception):
    """No final `script_finished` arrived within the timeout."""


@dataclass(frozen=True)
class Element:
    """One element of a run: where it sits (`delta_path`), its kind and its proto."""

    path: tuple[int, ...]
    kind: str
    proto: Any

    @property
    def id(self) -> str:
        """The widget id the server expects back in `WidgetState.id` ("" for non-widgets)."""
        return str(getattr(self.proto, "id", ""))

    @property
    def label(self) -> str:
        """The widget's or metric's label ("" when it has none)."""
        return str(getattr(self.proto, "label", ""))

    @property
    def text(self) -> str:
        """What a reader sees: markdown/heading/alert body, metric "label: value", exception."""
        if self.kind == "metric":
            return f"{self.proto.label}: {self.proto.body}"
        if self.kind == "exception":
            return f"{self.proto.type}: {self.proto.message}"
        if self.kind in _TEXT_KINDS:
            return str(self.proto.body)
        return self.label


@dataclass
class Run:
    """One rerun as the user waits for it: its time, how it ended and what it drew."""

    seconds: float
    status: int
    elements: list[Element] = field(default_factory=list)

    def all(self, kind: str) -> list[Element]:
        """Every element of `kind` (e.g. "text_input", "button", "metric"), in page order."""
        return [e for e in self.elements if e.kind == kind]

    def find(self, kind: str, label: str) -> Element:
        """The element of `kind` labelled exactly `label`; LookupError names what was there."""
        for element in self.elements:
            if element.kind == kind and element.label == label:
                return element
        present = sorted({e.label for e in self.elements if e.kind == kind})
        raise LookupError(f"no {kind} labelled {label!r}; this run has {present}")

    def has(self, kind: str, label: str) -> bool:
        """Whether an element of `kind` labelled `label` was drawn."""
        return any(e.kind == kind and e.label == label for e in self.elements)

    @property
    def texts(self) -> list[str]:
        """Markdown, headings, alerts, captions and toasts, in page order."""
        return [e.text for e in self.elements if e.kind in _TEXT_KINDS]

    @property
    def metrics(self) -> dict[str, str]:
        """Each metric's value by its label."""
        return {e.proto.label: e.proto.body for e in self.all("metric")}

    @property
    def exceptions(self) -> list[str]:
        """Exceptions the page showed (`st.exception` or an uncaught error)."""
        return [e.text for e in self.all("exception")]


def widget_state(widget_id: str, value: WidgetValue) -> WidgetState:
    """The `WidgetState` the frontend would send for `value` (a trigger is separate)."""
    state = WidgetState(id=widget_id)
    if isinstance(value, str):
        state.string_value = value
    elif isinstance(value, bool):
        state.bool_value = value
    elif isinstance(value, int):
        state.int_value = value
    elif isinstance(value, float):
        state.double_value = value
    else:
        state.string_array_value.data.extend(value)
    return state


class StreamlitClient:
    """One browser tab's worth of session: a websocket, widget states and a message cache."""

    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection
        self._states: dict[str, WidgetState] = {}
        self._cache: dict[str, tuple[ForwardMsg, int]] = {}  # hash → (message, last run used)
        self._run_count = 0
        self._max_cache_age = 2
        self.pages: dict[str, str] = {}  # page title → page_script_hash (from navigation)
        self.page_hash = ""
        self.query_string = ""
        self.last: Run | None = None

    @classmethod
    @asynccontextmanager
    async def connect(cls, base_url: str) -> AsyncIterator[StreamlitClient]:
        """A session on the app at `base_url` (http://host:port); closed on exit."""
        url = base_url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        # As a browser: no protocol-level pings of its own, and never a full receive
        # queue (a full one stops reading, so the server's pings would go unanswered).
        async with connect(
            url,
            subprotocols=[Subprotocol("streamlit")],
            max_size=None,
            max_queue=None,
            ping_interval=None,
        ) as connection:
            yield cls(connection)

    async def rerun(
        self,
        values: Mapping[str, WidgetValue] | None = None,
        *,
        trigger: str | None = None,
        page: str | None = None,
        timeout: float = RUN_TIMEOUT_SECONDS,
    ) -> Run:
        """Send one rerun and wait for its end: what a click, an Enter or a page switch does.

        `values` maps widget ids to new values (kept for later reruns, as the
        frontend keeps them); `trigger` is a button's id, pressed for this run
        only; `page` is a title from `self.pages` to switch to.
        """
        for widget_id, value in (values or {}).items():
            self._states[widget_id] = widget_state(widget_id, value)
        message = BackMsg()
        state = message.rerun_script
        if page is not None:
            self.page_hash = self.pages[page]
            self.query_string = ""  # a page switch starts from the page's plain address
        state.page_script_hash = self.page_hash
        state.query_string = self.query_string
        state.widget_states.widgets.extend(self._states.values())
        if trigger is not None:
            state.widget_states.widgets.append(WidgetState(id=trigger, trigger_value=True))
        state.cached_message_hashes.extend(self._cache)
        started = time.perf_counter()
        try:
            await self._connection.send(message.SerializeToString())
            run = await asyncio.wait_for(self._read_run(started), timeout)
        except ConnectionClosed as error:
            raise SessionClosed(f"the server closed the session: {error}") from error
        except TimeoutError as error:
            raise RunTimedOut(f"no script_finished within {timeout:.0f} s") from error
        self._forget_gone_widgets(run)
        self.last = run
        return run

    async def _read_run(self, started: float) -> Run:
        elements: dict[tuple[int, ...], Element] = {}
        while True:
            message = ForwardMsg()
            message.ParseFromString(await self._connection.recv(decode=False))
            message = self._through_cache(message)
            kind = message.WhichOneof("type")
            if kind == "new_session":
                elements.clear()  # a new run (after st.rerun) redraws the page
                self._max_cache_age = message.new_session.config.max_cached_message_age or 2
                self.page_hash = message.new_session.page_script_hash or self.page_hash
            elif kind == "navigation":
                self.pages = {p.page_name: p.page_script_hash for p in message.navigation.app_pages}
                self.page_hash = message.navigation.page_script_hash or self.page_hash
            elif kind == "page_info_changed":
                self.query_string = message.page_info_changed.query_string
            elif kind == "delta" and message.delta.WhichOneof("type") == "new_element":
                element = message.delta.new_element
                if (element_kind := element.WhichOneof("type")) is not None:
                    path = tuple(message.metadata.delta_path)
                    elements[path] = Element(path, element_kind, getattr(element, element_kind))
            elif kind == "script_finished" and message.script_finished in _FINAL:
                seconds = time.perf_counter() - started
                self._age_cache()
                ordered = [elements[path] for path in sorted(elements)]
                return Run(seconds, message.script_finished, ordered)

    def _through_cache(self, message: ForwardMsg) -> ForwardMsg:
        """Resolve a `ref_hash` from the cache; remember cacheable messages (the frontend's rule)."""
        if message.WhichOneof("type") == "ref_hash":
            cached, _ = self._cache[message.ref_hash]  # a miss is a protocol bug: let it raise
            self._cache[message.ref_hash] = (cached, self._run_count)
            resolved = ForwardMsg()
            resolved.CopyFrom(cached)
            resolved.metadata.CopyFrom(message.metadata)
            return resolved
        if message.metadata.cacheable and message.hash and message.hash not in self._cache:
            self._cache[message.hash] = (message, self._run_count)
        return message

    def _age_cache(self) -> None:
        self._run_count += 1
        self._cache = {
            key: (message, used)
            for key, (message, used) in self._cache.items()
            if self._run_count - used <= self._max_cache_age
        }

    def _forget_gone_widgets(self, run: Run) -> None:
        """Keep only the states of widgets this run drew, as the frontend prunes its own."""
        present = {element.id for element in run.elements if element.id}
        self._states = {k: v for k, v in self._states.items() if k in present}
