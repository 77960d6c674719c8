"""``CacheMiddleware``: pure ASGI cache layer in front of the tiler.

It sits inside the compression middleware (``CORS -> Compression -> Cache ->
tiler``): it forwards requests it may store without ``Accept-Encoding`` and
never stores a response carrying ``Content-Encoding``, so the cache holds
identity bytes only and a gzip body can never reach a client that did not ask
for it (defect 3).

A body is buffered only when it is going to be stored; anything else streams
through, and a body that grows past ``max_body_bytes`` stops being buffered.
Any backend failure degrades to rendering uncached: the cache never fails a
response and never serves bytes that do not match their recorded digest.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable

from .backends.base import BROKEN, UNSTORED_HEADERS, EntryMeta, Lookup
from .circuit import CacheError, CacheUnavailable
from .core import TileCache
from .keys import CacheKey
from .routes import RouteMatch, match_path, route_path

log = logging.getLogger("titiler_eopf.cache.middleware")

# Set by the tiler on a 404 that means "the tile is outside the product" (a
# cacheable answer), as opposed to an unknown collection or item.
EMPTY_TILE_HEADER = b"x-tile-empty"

# Request headers dropped when the response may be stored: the stored bytes
# must be the full identity representation whatever the client sent.
_STRIP_WHEN_STORING = {
    b"accept-encoding",
    b"if-none-match",
    b"if-modified-since",
    b"range",
    b"if-range",
}


def _header(scope, name: bytes) -> str | None:
    for k, v in scope.get("headers", ()):
        if k.lower() == name:
            return v.decode("latin-1")
    return None


def _etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*":
            return True
        if tag.startswith("W/"):
            tag = tag[2:]  # If-None-Match uses the weak comparison
        if tag == etag:
            return True
    return False


def base_url(scope) -> str:
    """The public base URL a response built for this request embeds (scheme,
    host, root path): what Starlette's ``request.base_url`` gives the tiler.
    Forwarded headers count only where a trusted proxy rewrote the scope
    before us (uvicorn's ``forwarded_allow_ips``, ``PublicURLMiddleware``)."""
    host = _header(scope, b"host")
    if not host:
        server = scope.get("server")
        host = f"{server[0]}:{server[1]}" if server else ""
    return f"{scope.get('scheme', 'http')}://{host.lower()}{scope.get('root_path', '')}"


def _no_cache(scope) -> bool:
    cc = (_header(scope, b"cache-control") or "").lower()
    tokens = {t.strip().split("=", 1)[0] for t in cc.split(",")}
    return "no-cache" in tokens or (_header(scope, b"pragma") or "").lower().strip() == "no-cache"


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

    async def __call__(self, scope, receive, send):
        if (
            scope["type"] != "http"
            or not self.cache.enabled
            or scope.get("method") not in ("GET", "HEAD")
        ):
            await self.app(scope, receive, send)
            return
        match = match_path(route_path(scope))
        if match is None:
            await self.app(scope, receive, send)
            return
        await _CachedRequest(self, scope, receive, send, match).handle()


class _CachedRequest:
    """One cacheable request: lookup, serve, or render-and-store."""

    def __init__(self, mw: CacheMiddleware, scope, receive, send, match: RouteMatch):
        self.mw = mw
        self.cache = mw.cache
        self.backend = mw.cache.backend
        self.settings = mw.cache.settings
        self.metrics = mw.cache.metrics
        self.scope = scope
        self.receive = receive
        self.send = send
        self.match = match
        self.head = scope["method"] == "HEAD"
        self.inm = _header(scope, b"if-none-match")
        self.refresh = (
            self.settings.honor_no_cache and _no_cache(scope)
        ) or self.cache.is_admin_bypass(
            _header(scope, self.settings.bypass_header.lower().encode())
        )
        self.key: CacheKey | None = None
        self.stale: Lookup | None = None

    def _log(self, level, msg, exc=None):
        log.log(
            level,
            msg,
            extra={
                "key": self.key.id if self.key else None,
                "backend": self.backend.name,
                "error": repr(exc) if exc else None,
            },
        )

    # --- entry point -------------------------------------------------------------
    async def handle(self):
        want_body = not (self.head or self.inm or self.refresh)
        try:
            self.key, found = await self._lookup(want_body)
        except CacheUnavailable:
            self.metrics.incr("bypasses")
            return await self.passthrough("BYPASS")
        except CacheError as exc:
            self.metrics.incr("errors")
            self._log(logging.WARNING, "cache lookup failed; rendering uncached", exc)
            return await self.passthrough("ERROR")

        self.found_any = found is not None
        if found is not None and not self.refresh:
            if await self.try_serve(found):
                return
        await self.miss()

    async def try_serve(self, found: Lookup) -> bool:
        """Serve a found entry if it is fresh and intact; False means miss."""
        meta = found.meta
        if meta is BROKEN:
            await self.corrupt("unreadable metadata")
            return False
        now = time.time()
        if not meta.fresh(now):
            if now < meta.created + meta.ttl + self.settings.stale_if_error:
                self.stale = found  # kept in case the re-render fails
            return False
        if _etag_matches(self.inm, meta.etag) and not self.head:
            self.metrics.incr("hits")
            self.metrics.incr("not_modified")
            await self.respond(meta, b"", "HIT", status=304)
            return True
        body = found.body
        if body is None and not self.head:
            try:
                _, again = await self._lookup(True)
            except CacheError as exc:
                self.metrics.incr("errors")
                self._log(logging.WARNING, "cache body read failed; rendering uncached", exc)
                await self.passthrough("BYPASS" if isinstance(exc, CacheUnavailable) else "ERROR")
                return True
            if again is None or again.meta.sha256 != meta.sha256:
                return False  # replaced or gone meanwhile: a miss
            body = again.body
        if not self.head and (
            body is None or len(body) != meta.size or self.cache.digest(body) != meta.sha256
        ):
            await self.corrupt("body missing" if body is None else "body digest mismatch")
            return False
        self.metrics.incr("hits")
        self.metrics.incr("bytes_served", meta.size if not self.head else 0)
        self.metrics.incr("render_ms_saved", meta.render_ms)
        await self.respond(meta, body or b"", "HIT")
        return True

    async def corrupt(self, why: str):
        self.metrics.incr("corrupt")
        self._log(logging.WARNING, f"corrupt cache entry ({why}); treated as a miss and repaired")
        try:
            await self.cache.run(self.backend.discard, self.key)
        except CacheError:
            pass

    # --- miss: stampede-safe render ------------------------------------------------
    async def _lookup(self, want_body: bool):
        base = base_url(self.scope) if self.match.embeds_base_url else ""
        return await self.cache.run(
            self.cache.key_and_lookup,
            self.match,
            self.scope.get("query_string", b""),
            want_body,
            base,
        )

    async def miss(self):
        self.metrics.incr("misses")
        token = uuid.uuid4().hex
        try:
            locked = await self.cache.run(
                self.backend.try_lock, self.key.id, token, self.settings.lock_ttl
            )
        except CacheError as exc:
            # No lock store: render (and try to store) anyway rather than wait.
            # Redis may have applied the SET before the error: release what may be ours.
            self._log(logging.WARNING, "stampede lock unavailable", exc)
            try:
                await self.render(store=True)
            finally:
                self.cache.release_later(self.key.id, token)
            return
        if locked:
            return await self.render_locked(token, recheck=not (self.refresh or self.found_any))
        await self.wait_for_other(token)

    async def render_locked(self, token: str, recheck: bool):
        """We hold the lock: render and store, then release it (compare-and-delete).
        While the render runs the lock is renewed, so it never outlives us by
        more than ``lock_ttl``."""
        import anyio

        async def heartbeat():
            every = self.settings.lock_ttl / 3
            while True:
                await anyio.sleep(every)
                try:
                    if not await self.cache.run(
                        self.backend.refresh_lock, self.key.id, token, self.settings.lock_ttl
                    ):
                        return  # lost it (expired during a fault): another worker may render too
                except CacheError:
                    return

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(heartbeat)
                try:
                    await self._render_holding_lock(recheck)
                finally:
                    tg.cancel_scope.cancel()
        finally:
            try:
                await self.cache.run(self.backend.unlock, self.key.id, token)
            except CacheError as exc:
                self._log(logging.WARNING, "lock release failed; retrying in the background", exc)
                self.cache.release_later(self.key.id, token)

    async def _render_holding_lock(self, recheck: bool):
        if recheck:
            # Someone may have stored it between our lookup and our lock.
            found = await self._quiet_lookup()
            if found is not None and found.meta is not BROKEN and found.meta.fresh():
                self.metrics.incr("misses", -1)
                if await self.try_serve(found):
                    return
                self.metrics.incr("misses")
        await self.render(store=True)

    async def _quiet_lookup(self):
        try:
            key, found = await self._lookup(not self.head)
        except CacheError:
            return None
        self.key = key  # the generations seen now are the ones a store must meet
        return found

    async def wait_for_other(self, token: str):
        """Another worker renders this key: poll for its result, take over if
        its lock vanishes (released or expired) without a result, give up
        after ``lock_wait``."""
        import anyio

        self.metrics.incr("lock_waits")
        deadline = time.monotonic() + self.settings.lock_wait
        delay = self.settings.lock_poll
        while time.monotonic() < deadline:
            await anyio.sleep(min(delay, max(0.0, deadline - time.monotonic())))
            delay = min(delay * 1.5, 0.25)
            found = await self._quiet_lookup()
            if found is not None and found.meta is not BROKEN and found.meta.fresh():
                self.metrics.incr("misses", -1)  # served from the cache after all
                if await self.try_serve(found):
                    return
                self.metrics.incr("misses")
            try:
                locked = await self.cache.run(
                    self.backend.try_lock, self.key.id, token, self.settings.lock_ttl
                )
            except CacheError:
                break
            if locked:
                # The holder finished (or died) without us seeing its entry:
                # re-check, since it may have stored it just before releasing.
                return await self.render_locked(token, recheck=True)
        self.metrics.incr("lock_timeouts")
        self._log(logging.WARNING, "stampede wait timed out; rendering uncached")
        await self.render(store=False)

    # --- forwarding ------------------------------------------------------------------
    async def passthrough(self, xcache: str):
        """Forward unchanged (no store), tagging the response."""

        scope = self.scope
        if self.head:
            # Tiler routes are GET-only: render the GET, answer the HEAD.
            scope = {**scope, "method": "GET"}

        async def tag(message):
            if message["type"] == "http.response.start":
                message = dict(message)
                message["headers"] = [*message.get("headers", []), (b"x-cache", xcache.encode())]
            elif message["type"] == "http.response.body" and self.head:
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await self.send(message)

        await self.mw.app(scope, self.receive, tag)

    async def render(self, store: bool):
        """Render through the inner app; store the response when allowed."""
        scope = dict(self.scope)
        if store or self.head:
            scope["headers"] = [
                (k, v)
                for k, v in self.scope.get("headers", ())
                if k.lower() not in _STRIP_WHEN_STORING
            ]
        if self.head:
            # Tiler routes are GET-only: render the GET, answer the HEAD.
            scope["method"] = "GET"
        max_bytes = self.settings.max_body_bytes
        st = {"start": None, "chunks": [], "size": 0, "mode": "buffer", "done": False, "ttl": None}
        client_send = self.send
        head = self.head

        async def stream_start(start):
            headers = [*start.get("headers", []), (b"x-cache", b"MISS")]
            await client_send({**start, "headers": headers})

        async def send_body(message):
            if head:
                if not message.get("more_body", False):
                    await client_send(
                        {"type": "http.response.body", "body": b"", "more_body": False}
                    )
                return
            await client_send(message)

        async def capture(message):
            if message["type"] == "http.response.start":
                st["start"] = message
                status = message["status"]
                ttl = self._storable(message) if store else None
                st["ttl"] = ttl
                if ttl is None and not (self.stale is not None and status >= 500):
                    st["mode"] = "stream"
                    await stream_start(message)
                return
            if message["type"] != "http.response.body":
                await client_send(message)
                return
            if st["mode"] == "stream":
                await send_body(message)
                return
            body = message.get("body", b"")
            st["chunks"].append(body)
            st["size"] += len(body)
            if st["size"] > max_bytes and st["ttl"] is not None:
                # Too big to store: stop buffering, flush what we have, stream on.
                st["mode"] = "stream"
                await stream_start(st["start"])
                await send_body(
                    {
                        "type": "http.response.body",
                        "body": b"".join(st["chunks"]),
                        "more_body": message.get("more_body", False),
                    }
                )
                st["chunks"] = []
                return
            if not message.get("more_body", False):
                st["done"] = True

        t0 = time.perf_counter()
        try:
            await self.mw.app(scope, self.receive, capture)
        except Exception:
            if self.stale is not None and st["start"] is None:
                self._log(logging.WARNING, "render raised; serving stale entry")
                return await self.serve_stale()
            raise
        render_ms = (time.perf_counter() - t0) * 1000
        if st["mode"] == "stream" or st["start"] is None:
            return
        start = st["start"]
        body = b"".join(st["chunks"])
        if st["ttl"] is None:
            # Buffered only because a stale entry could replace a 5xx.
            if self.stale is not None and start["status"] >= 500:
                return await self.serve_stale()
            await stream_start(start)
            await send_body({"type": "http.response.body", "body": body, "more_body": False})
            return
        meta = self._meta(start, body, st["ttl"], render_ms)
        if store:
            await self.store(meta, body)
        if _etag_matches(self.inm, meta.etag) and not self.head:
            return await self.respond(meta, b"", "MISS", status=304, age=0)
        await self.respond(meta, body, "MISS", age=0)

    def _storable(self, start) -> int | None:
        status = start["status"]
        ttl = self.cache.ttl(self.match.kind, status)
        if ttl is None:
            return None
        headers = {}
        for k, v in start.get("headers", []):
            headers.setdefault(k.lower(), []).append(v.decode("latin-1").lower())
        if b"content-encoding" in headers or b"set-cookie" in headers:
            return None
        if status == 404 and EMPTY_TILE_HEADER not in headers:
            # Only "no data here" is worth remembering; a 404 for an unknown
            # collection or item must not let anonymous requests fill the cache.
            return None
        cc = ",".join(headers.get(b"cache-control", []))
        if "no-store" in cc or "private" in cc:
            return None
        vary = {v.strip() for item in headers.get(b"vary", []) for v in item.split(",")} - {
            "accept-encoding",
            "",
        }
        if vary:
            return None  # the key does not cover those request headers
        length = headers.get(b"content-length")
        if length and length[0].isdigit() and int(length[0]) > self.settings.max_body_bytes:
            return None
        return ttl

    def _meta(self, start, body: bytes, ttl: int, render_ms: float) -> EntryMeta:
        ctype = ""
        kept = []
        for k, v in start.get("headers", []):
            name = k.decode("latin-1").lower()
            if name == "content-type":
                ctype = v.decode("latin-1")
            elif name not in UNSTORED_HEADERS:
                kept.append([name, v.decode("latin-1")])
        tile = self.match.tile
        return EntryMeta(
            status=start["status"],
            content_type=ctype,
            size=len(body),
            sha256=self.cache.digest(body),
            created=time.time(),
            ttl=ttl,
            kind=self.match.kind,
            headers=kept,
            render_ms=round(render_ms, 2),
            tile="/".join(map(str, tile)) if tile else "",
            src=self.key.source,
        )

    async def store(self, meta: EntryMeta, body: bytes):
        expire = meta.ttl + self.settings.stale_if_error
        try:
            stored = await self.cache.run(self.backend.put, self.key, meta, body, expire)
            if stored is False:
                # The scope was invalidated while we rendered: these bytes may
                # predate it, so they are not stored (this response is the last
                # to carry them).
                self.metrics.incr("unstored")
                return
            self.metrics.incr("writes")
        except CacheError as exc:
            # A failed write never fails the response.
            self.metrics.incr("write_errors")
            self._log(logging.WARNING, "cache write failed", exc)

    async def serve_stale(self):
        found = self.stale
        body = found.body
        if body is None and not self.head:
            try:
                _, got = await self._lookup(True)
                body = got.body if got and got.meta.sha256 == found.meta.sha256 else None
            except CacheError:
                body = None
        if not self.head and (body is None or self.cache.digest(body) != found.meta.sha256):
            await self.respond_error()
            return
        self.metrics.incr("stale")
        await self.respond(found.meta, body or b"", "STALE")

    async def respond_error(self):
        await self.send(
            {
                "type": "http.response.start",
                "status": 502,
                "headers": [(b"content-type", b"text/plain"), (b"x-cache", b"ERROR")],
            }
        )
        await self.send(
            {"type": "http.response.body", "body": b"" if self.head else b"render failed"}
        )

    # --- responses -------------------------------------------------------------------
    async def respond(
        self,
        meta: EntryMeta,
        body: bytes,
        xcache: str,
        status: int | None = None,
        age: int | None = None,
    ):
        status = status or meta.status
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in meta.headers]
        if meta.content_type and status != 304:
            headers.append((b"content-type", meta.content_type.encode("latin-1")))
        if status not in (204, 304):
            headers.append((b"content-length", str(meta.size).encode()))
        cc = self.settings.cache_control_for(self.match.kind, empty=meta.status != 200)
        if cc:
            headers.append((b"cache-control", cc.encode("latin-1")))
        headers += [
            (b"etag", meta.etag.encode()),
            (b"age", str(meta.age() if age is None else age).encode()),
            (b"x-cache", xcache.encode()),
        ]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        send_body = b"" if (self.head or status in (204, 304)) else body
        await self.send({"type": "http.response.body", "body": send_body, "more_body": False})
