"""Sending side of the cache: the tiler's response captured, tagged, or replaced by an entry.

``RenderCapture`` wraps the tiler's ``send`` the way Starlette's GZip responder does: it
keeps the response start in an attribute and decides there, from the status and headers,
whether the body is buffered (to be stored, or held back in case a stale entry replaces a
5xx) or streamed straight to the client. A body that grows past ``max_body_bytes`` stops
being buffered and streams on. Headers are edited through ``MutableHeaders``.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .backends.base import UNSTORED_HEADERS, EntryMeta


def _tagged(start: Message, xcache: str) -> Message:
    """A copy of a response start with ``X-Cache`` added (the app's header list is its own)."""
    message = {**start, "headers": list(start.get("headers", ()))}
    MutableHeaders(raw=message["headers"]).append("x-cache", xcache)
    return message


class TaggedResponder:
    """Forward the app's response unchanged but for ``X-Cache``; for a HEAD request
    (rendered as the GET the tiler routes) only the final, empty body message."""

    def __init__(self, app: ASGIApp, xcache: str, head: bool):
        self.app = app
        self.xcache = xcache
        self.head = head
        self.send: Send | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        await self.app(scope, receive, self.send_tagged)

    async def send_tagged(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            message = _tagged(message, self.xcache)
        elif message["type"] == "http.response.body" and self.head:
            if message.get("more_body", False):
                return
            message = {"type": "http.response.body", "body": b"", "more_body": False}
        await self.send(message)


class RenderCapture:
    """Render through the tiler, keeping what may be stored.

    ``storable(status, headers)`` gives the TTL a response may be stored under (None:
    not stored). A response is buffered when storable, or when ``hold_errors`` and its
    status is a 5xx (the caller may answer with a stale entry instead); anything else
    streams to the client as it comes, tagged ``X-Cache: MISS``.

    After the call: ``start`` is the response start (None if the app sent none),
    ``streamed`` tells whether the client already has it, else ``body`` holds the whole
    buffered body and ``ttl`` its storability.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        storable: Callable[[int, list[tuple[str, str]]], int | None],
        hold_errors: bool,
        max_body_bytes: int,
        head: bool,
    ):
        self.app = app
        self.storable = storable
        self.hold_errors = hold_errors
        self.max_body_bytes = max_body_bytes
        self.head = head
        self.send: Send | None = None
        self.start: Message | None = None
        self.ttl: int | None = None
        self.streamed = False
        self.chunks: list[bytes] = []
        self.size = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.send = send
        await self.app(scope, receive, self.capture)

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    @property
    def status(self) -> int:
        return self.start["status"] if self.start is not None else 0

    async def capture(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.start":
            self.start = message
            headers = [
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in message.get("headers", ())
            ]
            self.ttl = self.storable(message["status"], headers)
            if self.ttl is None and not (self.hold_errors and message["status"] >= 500):
                await self._stream_start()
        elif kind != "http.response.body":
            await self.send(message)
        elif self.streamed:
            await self._send_body(message)
        else:
            self.chunks.append(message.get("body", b""))
            self.size += len(self.chunks[-1])
            if self.ttl is not None and self.size > self.max_body_bytes:
                # Too big to store: flush what we have and stream on.
                await self.flush(more_body=message.get("more_body", False))

    async def flush(self, more_body: bool = False) -> None:
        """Send the response start and the buffered body to the client, tagged MISS."""
        await self._stream_start()
        body, self.chunks = self.body, []
        await self._send_body({"type": "http.response.body", "body": body, "more_body": more_body})

    async def _stream_start(self) -> None:
        self.streamed = True
        await self.send(_tagged(self.start, "MISS"))

    async def _send_body(self, message: Message) -> None:
        if self.head:
            if not message.get("more_body", False):
                await self.send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        await self.send(message)


def stored_headers(start: Message) -> tuple[str, list[list[str]]]:
    """The content type and the headers an entry keeps of a response start."""
    content_type = ""
    kept = []
    for k, v in start.get("headers", ()):
        name = k.decode("latin-1").lower()
        if name == "content-type":
            content_type = v.decode("latin-1")
        elif name not in UNSTORED_HEADERS:
            kept.append([name, v.decode("latin-1")])
    return content_type, kept


async def send_entry(
    send: Send,
    meta: EntryMeta,
    body: bytes,
    *,
    xcache: str,
    cache_control: str,
    age: int,
    status: int | None = None,
    head: bool = False,
) -> None:
    """Answer with a cache entry: its stored headers, then ETag, Age and X-Cache."""
    status = status or meta.status
    raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta.headers]
    headers = MutableHeaders(raw=raw)
    if meta.content_type and status != 304:
        headers.append("content-type", meta.content_type)
    if status not in (204, 304):
        headers.append("content-length", str(meta.size))
    if cache_control:
        headers.append("cache-control", cache_control)
    headers.append("etag", meta.etag)
    headers.append("age", str(age))
    headers.append("x-cache", xcache)
    await send({"type": "http.response.start", "status": status, "headers": headers.raw})
    empty = head or status in (204, 304)
    await send({"type": "http.response.body", "body": b"" if empty else body, "more_body": False})


async def send_render_failed(send: Send, head: bool) -> None:
    """The 502 of a failed render whose stale entry could not be read back."""
    headers = [(b"content-type", b"text/plain"), (b"x-cache", b"ERROR")]
    await send({"type": "http.response.start", "status": 502, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else b"render failed"})
