"""A light Streamlit client: the browser's websocket protocol without a browser.

Streamlit 1.67 serves `/_stcore/stream` (Starlette, `streamlit/web/server/
starlette/starlette_websocket.py`): the client offers the subprotocol
"streamlit" (the header's 2nd and 3rd entries, an XSRF token and a session id
to resume, are optional and only used for auth cookies and reconnects), then
sends binary `BackMsg` protobufs and receives binary `ForwardMsg`s. The server
runs nothing until the client asks: a page render is one
`BackMsg.rerun_script` (a `ClientState` with the query string, and the page's
`page_script_hash` and `page_name` = its `url_pathname`, as the frontend sends
on a sidebar click), answered by `new_session`, the `navigation` message (every
page's hash and path), `delta`s (the elements), and `script_finished`.

`ProtocolSession.render` times one page: rerun request sent -> `script_finished`
received. A render fails when the script finished with a compile error, the
page was not found, or any delta carried an `Exception` element (an exception
the page raised, shown as Streamlit's red box); `st.error` alerts are counted
apart (pages show those on purpose, e.g. "no dataset").

Needs `websockets` (installed with Streamlit's server dependencies).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from streamlit.proto.Alert_pb2 import Alert
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg
from websockets.asyncio.client import connect

FINISHED = ForwardMsg.ScriptFinishedStatus
MAX_MESSAGE_BYTES = 200 * 1024 * 1024  # the server's default server.maxMessageSize


@dataclass
class Render:
    """One page render as the server answered it."""

    page: str  # the page's url_pathname ("" for the default page)
    seconds: float  # rerun request sent -> script_finished received
    exceptions: list[str] = field(default_factory=list)  # Exception elements' messages
    errors: int = 0  # st.error alerts
    elements: int = 0  # elements drawn (0 for a page that drew nothing)
    problem: str = ""  # compile error, page not found, timeout, closed connection

    @property
    def ok(self) -> bool:
        return not self.problem and not self.exceptions


@dataclass(frozen=True)
class AppPage:
    """A page of the app's `st.navigation`, from the server's `navigation` message."""

    script_hash: str
    url_pathname: str
    title: str


class ProtocolSession:
    """One websocket session to a Streamlit server (`async with`).

    Args:
        base_url: "http://127.0.0.1:<port>".
        query_string: sent with every rerun, e.g. "ws=<workspace id>".
        timeout: seconds a render may take before it counts as failed.
    """

    def __init__(self, base_url: str, query_string: str = "", timeout: float = 180.0) -> None:
        self.url = base_url.replace("http://", "ws://", 1).rstrip("/") + "/_stcore/stream"
        self.query_string, self.timeout = query_string, timeout
        self.pages: list[AppPage] = []
        self._ws = None

    async def __aenter__(self) -> ProtocolSession:
        self._ws = await connect(
            self.url,
            subprotocols=["streamlit"],
            max_size=MAX_MESSAGE_BYTES,
            open_timeout=self.timeout,
            ping_interval=None,  # a loaded server may not answer pings in time
        )
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._ws.close()

    async def render(self, page: AppPage | None = None) -> Render:
        """Ask for `page` (None: the default page) and wait for the script to finish."""
        msg = BackMsg()
        state = msg.rerun_script
        state.query_string = self.query_string
        if page is not None:
            state.page_script_hash = page.script_hash
            state.page_name = page.url_pathname
        render = Render(page.url_pathname if page else "", 0.0)
        start = time.perf_counter()
        await self._ws.send(msg.SerializeToString())
        try:
            await asyncio.wait_for(self._read_until_finished(render), self.timeout)
        except TimeoutError:
            render.problem = f"no script_finished within {self.timeout:.0f} s"
        except Exception as error:  # noqa: BLE001 - a closed socket is a failed render
            render.problem = f"{type(error).__name__}: {error}"
        render.seconds = time.perf_counter() - start
        return render

    async def _read_until_finished(self, render: Render) -> None:
        while True:
            fwd = ForwardMsg()
            fwd.ParseFromString(await self._ws.recv())
            kind = fwd.WhichOneof("type")
            if kind == "navigation":
                self.pages = [
                    AppPage(p.page_script_hash, p.url_pathname, p.page_name)
                    for p in fwd.navigation.app_pages
                ]
            elif kind == "delta" and fwd.delta.WhichOneof("type") == "new_element":
                element = fwd.delta.new_element
                render.elements += 1
                which = element.WhichOneof("type")
                if which == "exception":
                    render.exceptions.append(
                        f"{element.exception.type}: {element.exception.message}"
                    )
                elif which == "alert" and element.alert.format == Alert.ERROR:
                    render.errors += 1
            elif kind == "page_not_found":
                render.problem = f"page not found: {fwd.page_not_found.page_name!r}"
            elif kind == "script_finished":
                status = fwd.script_finished
                if status == FINISHED.FINISHED_WITH_COMPILE_ERROR:
                    render.problem = "the script did not compile"
                elif status == FINISHED.FINISHED_SUCCESSFULLY and not render.elements:
                    render.problem = "the page drew nothing"
                if status in (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_WITH_COMPILE_ERROR):
                    return
                # FINISHED_EARLY_FOR_RERUN (st.rerun) and fragment runs: keep waiting


async def visit_every_page(base_url: str, query_string: str, rounds: int = 1) -> list[Render]:
    """One session: the default page, then every other page of the navigation, `rounds` times.

    Returns:
        Every render, in order (the first is the default page, which also
        tells the session the app's pages).
    """
    async with ProtocolSession(base_url, query_string) as session:
        renders = [await session.render()]
        others = [p for p in session.pages if p.url_pathname]
        for round_ in range(rounds):
            if round_:
                renders.append(await session.render())
            for page in others:
                renders.append(await session.render(page))
    return renders


async def concurrent_sessions(
    base_url: str, query_strings: list[str], rounds: int = 1
) -> list[Render]:
    """`visit_every_page` in one session per query string, all at once; every render."""
    results = await asyncio.gather(
        *(visit_every_page(base_url, qs, rounds) for qs in query_strings)
    )
    return [render for renders in results for render in renders]
