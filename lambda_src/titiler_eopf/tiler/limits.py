"""Limits of one request (``TITILER_EOPF_*``) and the guard that applies those of its URL.

Every size-like parameter a client sends is bounded, so that no anonymous request can take a
process down (``histogram_bins=1e8`` once grew one to 19.9 GB) or cost many times a normal tile:
over a limit, the answer is a 422 that names the parameter, the limit and the setting.

This module is light (pydantic and starlette only): ``main.py`` imports it at start-up, for the
settings and for :class:`RequestGuard`, which answers before the cache and the tiler are reached.
The dependencies that apply the other limits live in :mod:`titiler_eopf.tiler.dependencies`
and :mod:`titiler_eopf.tiler.checks`.
"""

from __future__ import annotations

import json
from urllib.parse import unquote_to_bytes

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# AWS Lambda returns at most 6 MB (6 * 2**20 bytes) from a synchronous invocation, as JSON
# with the body base64-encoded (4 bytes for every 3): the largest body that fits, with 16 KiB
# kept for the envelope and the headers, is 4,706,304 bytes (~4.49 MiB). Text bodies are not
# base64-encoded but JSON-escaped in that envelope: the same bound leaves room for it.
LAMBDA_RESPONSE_LIMIT = 6 * 2**20
LAMBDA_ENVELOPE_BYTES = 16 * 1024
LAMBDA_MAX_RESPONSE_BYTES = (LAMBDA_RESPONSE_LIMIT - LAMBDA_ENVELOPE_BYTES) // 4 * 3
# Image formats written without compression (rio-tiler: numpy.save, GTiff without creation
# options): their size is known before rendering, at least one byte per sample.
UNCOMPRESSED_FORMATS = frozenset({"npy", "tif", "tiff"})


class LimitSettings(BaseSettings):
    """What one request may ask for; defaults fit the tile Lambda (3 GB, 6 MB responses)."""

    model_config = SettingsConfigDict(env_prefix="TITILER_EOPF_", extra="ignore")

    # Longest side of any image: tilesize, @scale tiles, preview/bbox/feature width, height and
    # max_size, colormap images. A 4096 x 4096 PNG is about the 6 MB Lambda response limit.
    max_image_size: int = Field(4096, ge=1, le=65536)
    # Output pixels of one image, all bands: an RGBA image of the largest side.
    max_output_pixels: int = Field(4 * 4096 * 4096, ge=1)
    # `variables` of one request (and bands an expression may produce, rescale ranges, bidx).
    max_variables: int = Field(16, ge=1, le=256)
    max_histogram_bins: int = Field(1024, ge=1, le=1_000_000)
    max_percentiles: int = Field(32, ge=1, le=1000)
    max_categories: int = Field(256, ge=1, le=65536)
    max_colormap_bytes: int = Field(8192, ge=64)
    max_colormap_entries: int = Field(256, ge=1)  # a uint8 palette
    max_expression_length: int = Field(1024, ge=16)
    max_features: int = Field(64, ge=1)  # features of one POST /statistics
    # URL and body sizes. CloudFront takes URLs up to 8 kB and the HTTP API request lines up to
    # 10 kB: what is bigger only reaches a local server.
    max_path_bytes: int = Field(2048, ge=256)
    max_query_bytes: int = Field(32768, ge=1024)  # a colormap of max_colormap_bytes, escaped
    max_body_bytes: int = Field(2**20, ge=1024)
    # Body of one response: the largest AWS Lambda can return (6 MB once base64-encoded, less
    # 16 KiB for its envelope and the headers); over it, a 422 naming this limit instead of the
    # platform's 502. A server that is not a Lambda may raise it.
    max_response_bytes: int = Field(LAMBDA_MAX_RESPONSE_BYTES, ge=1024)


def env_name(field: str) -> str:
    return f"TITILER_EOPF_{field.upper()}"


def response_too_large(size: int, limit: int, *, at_least: bool = False) -> str:
    """The message of a response over ``max_response_bytes`` (what fits, and the setting)."""
    over = "at least " if at_least else ""
    return (
        f"The response would be {over}{size:,} bytes, over the largest this server can return: "
        f"{limit:,} bytes ({env_name('max_response_bytes')}; AWS Lambda returns at most 6 MB, "
        "base64-encoded). Ask for a smaller image (tilesize, width/height, max_size), fewer "
        "bands or a compressed format (png, jpeg, webp)."
    )


def raw_image_problem(
    image_format: str | None, bands: int, height: int, width: int, limit: int
) -> str | None:
    """Before rendering: an uncompressed format's body is at least one byte per sample, so an
    image over ``limit`` is refused without reading anything. Compressed formats (png, jpeg,
    webp, jp2) can only be judged on the rendered body (:class:`ResponseSizeGate`)."""
    if (image_format or "").lower() not in UNCOMPRESSED_FORMATS:
        return None
    size = bands * height * width
    return response_too_large(size, limit, at_least=True) if size > limit else None


class ResponseSizeGate:
    """ASGI middleware: a response body over ``max_response_bytes`` becomes a 422 naming the
    limit (Lambda would answer its own 502 for it), with ``Cache-Control: no-store``.

    A response announcing its ``Content-Length`` is judged on its start and otherwise streams
    through untouched; one without is held until its end or until it passes the limit. It
    sits inside the tile cache, which never stores a 422: an oversize body is never stored.
    """

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await _SizeResponder(send, self.max_bytes)(self.app, scope, receive)


class _SizeResponder:
    def __init__(self, send, max_bytes: int):
        self.send = send
        self.max_bytes = max_bytes
        self.start = None  # held while the size is unknown
        self.chunks: list[bytes] = []
        self.size = 0
        self.passing = False  # known to fit: forward as it comes
        self.refused = False  # answered 422: drop the rest

    async def __call__(self, app, scope, receive):
        await app(scope, receive, self.gate)

    async def gate(self, message) -> None:
        if self.passing:
            await self.send(message)
        elif self.refused:
            return
        elif message["type"] == "http.response.start":
            length = _content_length(message)
            if length is not None and length > self.max_bytes:
                await self._refuse(response_too_large(length, self.max_bytes))
            elif length is not None:
                self.passing = True
                await self.send(message)
            else:
                self.start = message
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
            self.size += len(self.chunks[-1])
            if self.size > self.max_bytes:
                self.chunks = []
                await self._refuse(response_too_large(self.size, self.max_bytes, at_least=True))
            elif not message.get("more_body", False):
                self.passing = True
                await self.send(self.start)
                await self.send({"type": "http.response.body", "body": b"".join(self.chunks)})
        else:
            await self.send(message)

    async def _refuse(self, detail: str) -> None:
        self.refused = True
        await _send_json(self.send, 422, detail, no_store=True)


def _content_length(message) -> int | None:
    for name, value in message.get("headers", ()):
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


class RequestGuard:
    """ASGI middleware: URL and body sizes, and URLs that do not decode as UTF-8.

    414 for a path or query string over its limit, 413 for a body, 400 for bytes that are not
    UTF-8 once percent-decoded; every other request goes through untouched.
    """

    def __init__(self, app, limits: LimitSettings):
        self.app = app
        self.limits = limits

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problem = self._check(scope)
        if problem is not None:
            await _send_json(send, *problem)
            return
        if any(name == b"transfer-encoding" for name, _ in scope.get("headers", ())):
            # A body streamed without Content-Length: read it here, within the limit, so that
            # an oversize one is a 413 (the app would report a failure to parse it).
            try:
                receive = await self._buffered(receive)
            except BodyTooLarge as exc:
                await _send_json(send, 413, str(exc))
                return
        await self.app(scope, receive, send)

    def _check(self, scope) -> tuple[int, str] | None:
        limits = self.limits
        raw_path = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
        query = scope.get("query_string", b"")
        if len(raw_path) > limits.max_path_bytes:
            return 414, (
                f"The URL path is {len(raw_path)} bytes long, over this server's limit of "
                f"{limits.max_path_bytes} ({env_name('max_path_bytes')})"
            )
        if len(query) > limits.max_query_bytes:
            return 414, (
                f"The query string is {len(query)} bytes long, over this server's limit of "
                f"{limits.max_query_bytes} ({env_name('max_query_bytes')})"
            )
        if not _utf8(raw_path):
            return 400, "The URL path is not valid UTF-8 once percent-decoded"
        for part in query.split(b"&"):
            name, _, value = part.partition(b"=")
            if not (_utf8(name.replace(b"+", b" ")) and _utf8(value.replace(b"+", b" "))):
                shown = unquote_to_bytes(name).decode("utf-8", "replace")[:64]
                return 400, f"Query parameter '{shown}' is not valid UTF-8 once percent-decoded"
        for header, value in scope.get("headers", ()):
            if header == b"content-length":
                if not value.isdigit():
                    return 400, "Content-Length must be a number of bytes"
                if int(value) > limits.max_body_bytes:
                    return 413, self._body_message(int(value))
        return None

    def _body_message(self, size: int) -> str:
        return (
            f"The request body is {size} bytes or more, over this server's limit of "
            f"{self.limits.max_body_bytes} ({env_name('max_body_bytes')})"
        )

    async def _buffered(self, receive):
        """Read the whole body (at most max_body_bytes); return a receive that replays it."""
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return _replay([message], receive)
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.limits.max_body_bytes:
                raise BodyTooLarge(self._body_message(size))
            if not message.get("more_body", False):
                body = {"type": "http.request", "body": b"".join(chunks), "more_body": False}
                return _replay([body], receive)


def _replay(messages: list, receive):
    pending = list(messages)

    async def replay():
        return pending.pop(0) if pending else await receive()

    return replay


class BodyTooLarge(Exception):
    """A streamed request body over TITILER_EOPF_MAX_BODY_BYTES."""


def _utf8(raw: bytes) -> bool:
    try:
        unquote_to_bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


async def _send_json(send, status: int, detail: str, no_store: bool = False) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if no_store:
        headers.append((b"cache-control", b"no-store"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
