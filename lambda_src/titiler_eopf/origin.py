"""The origin locked to its CDN: requests must carry the ``X-Origin-Verify`` secret (pure ASGI).

Behind CloudFront (``cloudfront=true``) the distribution adds ``X-Origin-Verify: <value>`` to
every request it forwards; the value lives in Secrets Manager
(``TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN``). :class:`OriginVerifyMiddleware` answers 403 to a
request whose header is missing or different (compared in constant time), so the API cannot be
used around the CDN (its cache, its CORS answers, its price).

:class:`OriginSecret` reads the value once per container, lazily (a worker thread: the event
loop never waits on Secrets Manager), with the bounded client of :mod:`titiler_eopf.aws`. A
header that differs may mean the secret was rotated since it was read: the value is read again,
at most once every ``refresh_seconds``, so a rotation is picked up without a redeploy and wrong
headers cannot make each request cost a Secrets Manager call. When the secret cannot be read,
the check fails closed (503, logged with the ARN and the error) and is retried after
``refresh_seconds``.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger("titiler_eopf.origin")

HEADER = b"x-origin-verify"
REFUSED = (
    "This API is served through its CDN only: the request did not come through the CloudFront "
    "distribution (X-Origin-Verify header missing or wrong). Use the CDN URL."
)
UNAVAILABLE = (
    "The origin check is unavailable: the X-Origin-Verify secret could not be read from "
    "Secrets Manager (TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN); try again shortly."
)


class OriginSecret:
    """The expected header value: read once, re-read at most every ``refresh_seconds``."""

    def __init__(
        self,
        read: Callable[[], str],
        *,
        refresh_seconds: float,
        source: str = "",
        clock: Callable[[], float] = time.monotonic,
    ):
        self._read = read
        self.refresh_seconds = refresh_seconds
        self.source = source  # the ARN, for the logs
        self._clock = clock
        self._lock = threading.Lock()
        self._value: bytes | None = None
        self._read_at: float | None = None  # clock() of the last attempt, successful or not

    @property
    def known(self) -> bytes | None:
        """The value already read, without any I/O (None: not read yet, or unreadable)."""
        return self._value

    def current(self) -> bytes | None:
        """The value (read on first use); None while it cannot be read."""
        if self._value is not None:
            return self._value
        return self._read_if_due()

    def refreshed(self) -> bytes | None:
        """The value read again if the last read is ``refresh_seconds`` old, else as it is."""
        return self._read_if_due()

    def forget(self) -> None:
        """Read again on next use (a restored SnapStart snapshot may hold an old value)."""
        with self._lock:
            self._value, self._read_at = None, None

    def _read_if_due(self) -> bytes | None:
        with self._lock:
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self.refresh_seconds:
                return self._value
            self._read_at = now
            try:
                value = self._read()
            except Exception as exc:  # noqa: BLE001 - any failure: fail closed, say why
                log.error(
                    "cannot read the origin-verify secret: requests are refused until it can",
                    extra={
                        "secret": self.source,
                        "error": f"{type(exc).__name__}: {exc}",
                        "retry_in_s": self.refresh_seconds,
                    },
                )
                return self._value
            if not value:
                log.error("the origin-verify secret is empty", extra={"secret": self.source})
                return self._value
            if self._value is not None and value.encode() != self._value:
                log.info("origin-verify secret rotated", extra={"secret": self.source})
            self._value = value.encode()
            return self._value


def secret_from_settings(
    arn: str, refresh_seconds: float, clock: Callable[[], float] = time.monotonic
) -> OriginSecret:
    """The secret the stack generated (a bare string; see ``infrastructure/api.py``);
    ``clock``: the app's, for the refresh interval."""
    from titiler_eopf.aws import read_secret

    return OriginSecret(
        lambda: read_secret(arn), refresh_seconds=refresh_seconds, source=arn, clock=clock
    )


def header_value(scope) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == HEADER:
            return value
    return None


class OriginVerifyMiddleware:
    """Refuse (403) every HTTP request without the CDN's secret header; 503 while the secret
    cannot be read. Other scopes (lifespan) pass."""

    def __init__(self, app, secret: OriginSecret):
        self.app = app
        self.secret = secret

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = header_value(scope)
        if sent is None:  # refused whatever the secret: no Secrets Manager call for it
            await _refuse(send, 403, REFUSED)
            return
        expected = self.secret.known or await _in_thread(self.secret.current)
        if expected is None:
            await _refuse(send, 503, UNAVAILABLE, retry_after=self.secret.refresh_seconds)
            return
        if not hmac.compare_digest(sent, expected):
            # Maybe rotated since it was read: read again (rate-limited) and compare again.
            expected = await _in_thread(self.secret.refreshed) or expected
            if not hmac.compare_digest(sent, expected):
                await _refuse(send, 403, REFUSED)
                return
        await self.app(scope, receive, send)


async def _in_thread(fn):
    import anyio.to_thread

    return await anyio.to_thread.run_sync(fn)


async def _refuse(send, status: int, detail: str, retry_after: float = 0) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # Never kept by the CDN or a browser: the next request may well be allowed.
        (b"cache-control", b"no-store"),
    ]
    if retry_after:
        headers.append((b"retry-after", str(max(1, round(retry_after))).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
