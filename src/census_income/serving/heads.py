"""uvicorn's HTTP protocol with a deadline for each request's head (request line and headers).

uvicorn times out only a kept-alive connection that is idle between requests: a client that
connected and sent nothing, or sent its headers a byte at a time, held a connection and a file
descriptor for as long as it liked, and enough of them starve the server (slowloris). Here a
connection whose request head has not arrived `head_seconds` after the connection was made, or
after the request's first byte, is closed (with 408 once a request had begun). The body has its
own deadline (`--body-timeout`, in the app).
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

# what `uvicorn.Config(http=...)` is given, in this process and in `--workers` processes alike
PROTOCOL = f"{__name__}:HeadDeadlineProtocol"
TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"


class HeadDeadlineProtocol(HttpToolsProtocol):
    """`HttpToolsProtocol` closing a connection whose request head is late (see the module)."""

    head_seconds: ClassVar[float] = 10.0  # set from `--head-timeout` before serving

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._begun = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._await_head(begun=False)

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._await_head(begun=True)

    def on_headers_complete(self) -> None:
        self._cancel()
        super().on_headers_complete()

    def _await_head(self, begun: bool) -> None:
        self._cancel()
        self._begun = begun
        self._deadline = self.loop.call_later(self.head_seconds, self._late)

    def _cancel(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _late(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            if self._begun:
                self.transport.write(TIMED_OUT)
            self.transport.close()
