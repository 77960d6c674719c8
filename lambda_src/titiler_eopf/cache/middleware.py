"""``CacheMiddleware``: pure ASGI cache layer in front of the tiler.

It sits inside the compression middleware (``CORS -> Compression -> Cache ->
tiler``): it forwards requests it may store without ``Accept-Encoding`` and
never stores a response carrying ``Content-Encoding``, so the cache holds
identity bytes only and a gzip body can never reach a client that did not ask
for it (defect 3).

``__call__`` picks a responder, as Starlette's GZip middleware does: requests the
cache does not handle go straight to the app; a cacheable one gets a
``CacheResponder``, which serves its entry or renders it once per key (the
stampede lock) through ``RenderCapture`` and stores it. What may be stored and for how
long is decided by the pure functions of ``policy``.

A body is buffered only when it is going to be stored; anything else streams
through, and a body that grows past ``max_body_bytes`` stops being buffered.
Any backend failure degrades to rendering uncached: the cache never fails a
response and never serves bytes that do not match their recorded digest.

Each request is counted once, where its outcome is known: a hit when an entry is
served, a miss when the tiler renders, a bypass or an error when the cache is skipped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from .backends.base import BROKEN, EntryMeta, Lookup
from .capture import (
    RenderCapture,
    TaggedResponder,
    send_entry,
    send_render_failed,
    stored_headers,
)
from .circuit import CacheError, CacheUnavailable
from .core import TileCache
from .keys import CacheKey
from .policy import (
    base_url,
    cache_control,
    client_no_cache,
    etag_matches,
    header,
    render_headers,
    storable_ttl,
)
from .routes import RouteMatch, match_path, route_path
from .stampede import StampedeLock

log = logging.getLogger("titiler_eopf.cache.middleware")

__all__ = ["CacheMiddleware", "CacheResponder"]


class CacheMiddleware:
    def __init__(
        self, app=None, *, app_factory: Callable[[], object] | None = None, cache: TileCache
    ):
        if (app is None) == (app_factory is None):
            raise ValueError("CacheMiddleware takes exactly one of app or app_factory")
        self._app = app
        self._factory = app_factory
        self._factory_lock = threading.Lock()
        self.cache = cache

    @property
    def app(self):
        """The inner app, built on first need when given as a factory (a cache
        HIT never imports the tiler)."""
        if self._app is None:
            with self._factory_lock:
                if self._app is None:
                    self._app = self._factory()
        return self._app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = self._match(scope)
        if match is None:
            await self.app(scope, receive, send)
            return
        await CacheResponder(self.render, self.cache, match)(scope, receive, send)

    def _match(self, scope: Scope) -> RouteMatch | None:
        """The cacheable route of the request, or None when the cache stays out of it."""
        if (
            scope["type"] != "http"
            or not self.cache.enabled
            or scope.get("method") not in ("GET", "HEAD")
        ):
            return None
        return match_path(route_path(scope))

    async def render(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The inner app, looked up only when a response must be rendered."""
        await self.app(scope, receive, send)


class CacheResponder:
    """One cacheable request: serve its entry, or render it (once per key) and store it."""

    def __init__(self, app: ASGIApp, cache: TileCache, match: RouteMatch):
        self.app = app
        self.cache = cache
        self.settings = cache.settings
        self.metrics = cache.metrics
        self.match = match
        self.scope: Scope = {}
        self.receive: Receive | None = None
        self.send: Send | None = None
        self.head = False
        self.if_none_match: str | None = None
        self.refresh = False  # re-render whatever is stored (admin bypass, or no-cache)
        self.key: CacheKey | None = None
        self.stale: Lookup | None = None  # an expired entry kept in case the render fails

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scope, self.receive, self.send = scope, receive, send
        self.head = scope["method"] == "HEAD"
        self.if_none_match = header(scope, b"if-none-match")
        bypass = header(scope, self.settings.bypass_header.lower().encode())
        self.refresh = (
            self.settings.honor_no_cache and client_no_cache(scope)
        ) or self.cache.is_admin_bypass(bypass)

        want_body = not (self.head or self.if_none_match or self.refresh)
        try:
            self.key, found = await self._lookup(want_body)
        except CacheUnavailable:
            self.metrics.incr("bypasses")
            await self._passthrough("BYPASS")
            return
        except CacheError as exc:
            self.metrics.incr("errors")
            self._log("cache lookup failed; rendering uncached", exc)
            await self._passthrough("ERROR")
            return
        if found is not None and not self.refresh and await self._serve(found):
            return
        await self._render_once(recheck=not (self.refresh or found is not None))

    def _log(self, msg: str, exc: BaseException | None = None) -> None:
        log.warning(
            msg,
            extra={
                "key": self.key.id if self.key else None,
                "backend": self.cache.backend.name,
                "error": repr(exc) if exc else None,
            },
        )

    # --- lookup and serving ------------------------------------------------------------------
    async def _lookup(self, want_body: bool) -> tuple[CacheKey, Lookup | None]:
        base = base_url(self.scope) if self.match.embeds_base_url else ""
        return await self.cache.lookup(
            self.match,
            self.scope.get("query_string", b""),
            want_body,
            base,
        )

    async def _serve(self, found: Lookup) -> bool:
        """Answer from a found entry if it is fresh and intact; False means render.
        (True also when reading the body failed and the request was passed through.)"""
        meta = found.meta
        if meta is BROKEN:
            await self._discard("unreadable metadata")
            return False
        now = self.cache.now()
        if not meta.fresh(now):
            if now < meta.created + meta.ttl + self.settings.stale_if_error:
                self.stale = found
            return False
        if etag_matches(self.if_none_match, meta.etag) and not self.head:
            self.metrics.incr("hits")
            self.metrics.incr("not_modified")
            await self._send_entry(meta, b"", "HIT", status=304)
            return True
        body = found.body
        if body is None and not self.head:
            try:
                _, again = await self._lookup(True)
            except CacheError as exc:
                self.metrics.incr("errors")
                self._log("cache body read failed; rendering uncached", exc)
                await self._passthrough("BYPASS" if isinstance(exc, CacheUnavailable) else "ERROR")
                return True
            if again is None or again.meta.sha256 != meta.sha256:
                return False  # replaced or gone meanwhile: a miss
            body = again.body
        if not self.head:
            problem = self._integrity_problem(meta, body)
            if problem:
                await self._discard(problem)
                return False
        self.metrics.incr("hits")
        self.metrics.incr("bytes_served", 0 if self.head else meta.size)
        self.metrics.incr("render_ms_saved", meta.render_ms)
        await self._send_entry(meta, body or b"", "HIT")
        return True

    def _integrity_problem(self, meta: EntryMeta, body: bytes | None) -> str | None:
        if body is None:
            return "body missing"
        if len(body) != meta.size or self.cache.digest(body) != meta.sha256:
            return "body digest mismatch"
        return None

    async def _serve_if_stored(self) -> bool:
        """Look again (another worker may have stored the entry meanwhile) and serve it."""
        try:
            key, found = await self._lookup(not self.head)
        except CacheError:
            return False
        self.key = key  # the generations seen now are the ones a store must meet
        if found is None or found.meta is BROKEN or not found.meta.fresh(self.cache.now()):
            return False
        return await self._serve(found)

    async def _discard(self, why: str) -> None:
        self.metrics.incr("corrupt")
        self._log(f"corrupt cache entry ({why}); treated as a miss and repaired")
        try:
            await self.cache.run(self.cache.backend.discard, self.key)
        except CacheError:
            pass

    # --- miss: one render per key --------------------------------------------------------------
    async def _render_once(self, recheck: bool) -> None:
        """Render under the stampede lock; while another worker holds it, wait for its
        entry (or take the lock over when it is released without one), for ``lock_wait``
        at most, then render uncached."""
        lock = StampedeLock(self.cache, self.key.id)
        try:
            acquired = await lock.acquire()
        except CacheError as exc:
            # No lock store: render (and try to store) anyway rather than wait.
            # Redis may have applied the SET before the error: release what may be ours.
            self._log("stampede lock unavailable", exc)
            try:
                await self._render(store=True)
            finally:
                lock.release_later()
            return
        if acquired:
            await self._render_holding(lock, recheck)
            return
        self.metrics.incr("lock_waits")
        async for _ in lock.waiting():
            if await self._serve_if_stored():
                return
            try:
                acquired = await lock.acquire()
            except CacheError:
                break
            if acquired:
                # The holder finished (or died) without us seeing its entry:
                # re-check, since it may have stored it just before releasing.
                await self._render_holding(lock, recheck=True)
                return
        self.metrics.incr("lock_timeouts")
        self._log("stampede wait timed out; rendering uncached")
        await self._render(store=False)

    async def _render_holding(self, lock: StampedeLock, recheck: bool) -> None:
        async with lock.held():
            # Someone may have stored it between our lookup and our lock.
            if recheck and await self._serve_if_stored():
                return
            await self._render(store=True)

    # --- rendering -------------------------------------------------------------------------------
    async def _passthrough(self, xcache: str) -> None:
        """Forward unchanged (no store), tagging the response."""
        scope = self.scope
        if self.head:
            scope = {**scope, "method": "GET"}  # tiler routes are GET-only: answer the HEAD
        await TaggedResponder(self.app, xcache, self.head)(scope, self.receive, self.send)

    def _storable(self, status: int, headers: list[tuple[str, str]]) -> int | None:
        return storable_ttl(self.settings, self.match.kind, status, headers)

    async def _render(self, store: bool) -> None:
        """Render through the inner app; store the response when allowed."""
        self.metrics.incr("misses")
        scope = {**self.scope, "headers": render_headers(self.scope, storing=store or self.head)}
        if self.head:
            scope["method"] = "GET"  # tiler routes are GET-only: render the GET, answer the HEAD
        capture = RenderCapture(
            self.app,
            storable=self._storable if store else lambda status, headers: None,
            hold_errors=self.stale is not None,
            max_body_bytes=self.settings.max_body_bytes,
            head=self.head,
        )
        t0 = time.perf_counter()
        try:
            await capture(scope, self.receive, self.send)
        except Exception:
            if self.stale is not None and capture.start is None:
                self._log("render raised; serving stale entry")
                await self._serve_stale()
                return
            raise
        render_ms = (time.perf_counter() - t0) * 1000
        if capture.streamed or capture.start is None:
            return
        if capture.ttl is None:  # held back only because a stale entry could replace a 5xx
            if self.stale is not None and capture.status >= 500:
                await self._serve_stale()
            else:
                await capture.flush()
            return
        body = capture.body
        meta = self._entry_meta(capture, body, render_ms)
        await self._store(meta, body)
        if etag_matches(self.if_none_match, meta.etag) and not self.head:
            await self._send_entry(meta, b"", "MISS", status=304, age=0)
        else:
            await self._send_entry(meta, body, "MISS", age=0)

    def _entry_meta(self, capture: RenderCapture, body: bytes, render_ms: float) -> EntryMeta:
        content_type, headers = stored_headers(capture.start)
        tile = self.match.tile
        return EntryMeta(
            status=capture.status,
            content_type=content_type,
            size=len(body),
            sha256=self.cache.digest(body),
            created=self.cache.now(),
            ttl=capture.ttl,
            kind=self.match.kind,
            headers=headers,
            render_ms=round(render_ms, 2),
            tile="/".join(map(str, tile)) if tile else "",
            src=self.key.source,
        )

    async def _store(self, meta: EntryMeta, body: bytes) -> None:
        expire = meta.ttl + self.settings.stale_if_error
        try:
            stored = await self.cache.run(self.cache.backend.put, self.key, meta, body, expire)
        except CacheError as exc:
            # A failed write never fails the response.
            self.metrics.incr("write_errors")
            self._log("cache write failed", exc)
            return
        if stored is False:
            # The scope was invalidated while we rendered: these bytes may
            # predate it, so they are not stored (this response is the last
            # to carry them).
            self.metrics.incr("unstored")
        else:
            self.metrics.incr("writes")

    async def _serve_stale(self) -> None:
        found = self.stale
        body = found.body
        if body is None and not self.head:
            try:
                _, got = await self._lookup(True)
                body = got.body if got and got.meta.sha256 == found.meta.sha256 else None
            except CacheError:
                body = None
        if not self.head and (body is None or self.cache.digest(body) != found.meta.sha256):
            await send_render_failed(self.send, self.head)
            return
        self.metrics.incr("stale")
        await self._send_entry(found.meta, body or b"", "STALE")

    async def _send_entry(
        self,
        meta: EntryMeta,
        body: bytes,
        xcache: str,
        status: int | None = None,
        age: int | None = None,
    ) -> None:
        await send_entry(
            self.send,
            meta,
            body,
            xcache=xcache,
            cache_control=cache_control(self.settings, self.match.kind, meta.status),
            age=meta.age(self.cache.now()) if age is None else age,
            status=status,
            head=self.head,
        )
