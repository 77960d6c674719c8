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


def env_name(field: str) -> str:
    return f"TITILER_EOPF_{field.upper()}"


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


async def _send_json(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
