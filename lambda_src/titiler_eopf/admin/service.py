"""The admin service: executes the admin actions on one cache.

One service for every door: the HTTP routes (``routes.py``) call its methods with the
request models FastAPI validated; the admin Lambda and the CLI's local target hand it
an event (:meth:`AdminService.reply`), parsed by :func:`.actions.parse_event` and
answered in the Lambda's envelope, ``{"ok": true, ...}`` or
``{"ok": false, "error": {"type", "message"}}``. A bad request is answered with a
clear message, never a stack trace, and deletes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from titiler_eopf.admin.actions import (
    AdminRequest,
    BadRequest,
    InvalidateRequest,
    KeysRequest,
    PurgeRequest,
    SeedRequest,
    StatusRequest,
    parse_event,
)
from titiler_eopf.cache import invalidation as inv
from titiler_eopf.cache.core import TileCache
from titiler_eopf.cache.invalidation import InvalidationResult, InvalidInput

if TYPE_CHECKING:
    from titiler_eopf.admin.cdn import CdnInvalidator
    from titiler_eopf.origin import OriginSecret
    from titiler_eopf.settings import Settings

# What the caller did wrong (answered "BadRequest", HTTP 400), as opposed to a failure.
REFUSALS = (BadRequest, InvalidInput)


@dataclass
class AdminService:
    cache: TileCache
    # Base URL of the tile API that ``seed`` requests (never a URL from the request).
    seed_api_url: str | None = None
    # Behind a CDN: invalidations reach its edge too, and seeding requests (which go to the API
    # directly) carry the origin-verify header the tile app checks.
    cdn: CdnInvalidator | None = None
    origin_secret: OriginSecret | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> AdminService:
        """The service of the admin Lambda and the CLI's local target."""
        from titiler_eopf.cache import build_cache

        cache = build_cache(settings.cache)
        # URL invalidation of responses keyed by base URL (TileJSON) uses the public URL.
        cache.public_url = settings.tiler.public_url or ""
        cdn = origin = None
        if settings.admin.cdn_distribution_id:
            from titiler_eopf.admin.cdn import CdnInvalidator

            cdn = CdnInvalidator(
                settings.admin.cdn_distribution_id,
                prefix=urlsplit(settings.tiler.public_url or "").path,
                max_paths=settings.admin.cdn_max_paths,
            )
        if settings.tiler.origin_verify_secret_arn:
            from titiler_eopf.origin import secret_from_settings

            origin = secret_from_settings(
                settings.tiler.origin_verify_secret_arn,
                settings.tiler.origin_verify_refresh_seconds,
            )
        return cls(cache, seed_api_url=settings.seed_api_url, cdn=cdn, origin_secret=origin)

    # --- the actions ------------------------------------------------------------------
    def status(self, request: StatusRequest | None = None) -> dict:
        return self.cache.admin_status()

    def keys(self, request: KeysRequest) -> dict:
        return inv.list_keys(
            self.cache, request.pattern, limit=request.limit, cursor=request.cursor
        )

    def invalidate(self, request: InvalidateRequest) -> InvalidationResult:
        """Invalidate in the cache, then (behind a CDN) the same scope at the edge."""
        result = self._invalidate_cache(request)
        if self.cdn is not None:
            result.cdn = self.cdn.invalidate(request)
        return result

    def _invalidate_cache(self, request: InvalidateRequest) -> InvalidationResult:
        cache, r = self.cache, request
        if r.scope in ("collection", "item"):
            item = r.item if r.scope == "item" else None
            return inv.invalidate_scope(cache, r.collection, item, hard=r.hard, dry_run=r.dry_run)
        if r.scope == "key":
            return inv.invalidate_key(cache, r.key or "", dry_run=r.dry_run)
        if r.scope == "url":
            return inv.invalidate_url(cache, r.url or "", dry_run=r.dry_run)
        if r.scope == "tiles":
            return inv.invalidate_tiles(
                cache,
                r.collection,
                r.item,
                minzoom=r.minzoom,
                maxzoom=r.maxzoom,
                bbox=r.bbox,
                tms=r.tms,
                dry_run=r.dry_run,
            )
        return inv.invalidate_pattern(
            cache,
            r.pattern or "",
            limit=r.limit,
            cursor=r.cursor,
            confirm=r.confirm,
            dry_run=r.dry_run,
        )

    def purge(self, request: PurgeRequest) -> InvalidationResult:
        return self.invalidate(request.as_invalidation())

    def seed(self, request: SeedRequest, deadline: float | None = None) -> dict:
        """One slice of the job, through the tile API (the cache is the tile Lambda's
        business: this service's cache is not used)."""
        from titiler_eopf.admin.seeding import seed_slice

        return seed_slice(request, self.seed_api_url, deadline, headers=self.seed_headers())

    def seed_headers(self) -> dict[str, str]:
        """Headers of the seeder's requests: the origin-verify secret behind a CDN (read again
        at most every refresh interval, so a rotation reaches the seeder too)."""
        if self.origin_secret is None:
            return {}
        from titiler_eopf.origin import HEADER

        value = self.origin_secret.refreshed()
        if value is None:
            raise RuntimeError(
                "cannot seed: the origin-verify secret could not be read from Secrets Manager"
                f" ({self.origin_secret.source}); the tile API refuses requests without it"
            )
        return {HEADER.decode(): value.decode()}

    # --- events (admin Lambda, CLI) ------------------------------------------------------
    def execute(self, request: AdminRequest, deadline: float | None = None) -> dict:
        """The reply body of one request, as the admin Lambda answers it."""
        match request:
            case StatusRequest():
                return {"status": self.status(request)}
            case KeysRequest():
                return self.keys(request)
            case InvalidateRequest():
                return {"result": self.invalidate(request).to_dict()}
            case PurgeRequest():
                return {"result": self.purge(request).to_dict()}
            case SeedRequest():
                return {"result": self.seed(request, deadline)}
        raise BadRequest(f"no such action: {type(request).__name__}")

    def reply(self, event: Any, deadline: float | None = None, log: Any = None) -> dict:
        """Parse and execute one event; its reply envelope (nothing raised). With ``log``
        (the Lambda's logger), each event is logged, without its token."""
        try:
            reply = {"ok": True, **self.execute(parse_event(event), deadline)}
        except REFUSALS as exc:
            if log is not None:
                log.warning(
                    "rejected admin event", extra={"error": str(exc), "event": redact(event)}
                )
            return error_reply("BadRequest", str(exc))
        except Exception as exc:  # noqa: BLE001 - a backend failure: reported, never a traceback
            if log is not None:
                log.exception("admin action failed", extra={"event": redact(event)})
            return error_reply(type(exc).__name__, str(exc) or type(exc).__name__)
        if log is not None:
            log.info("admin action", extra={"action": event.get("action"), "event": redact(event)})
        return reply


def error_reply(kind: str, message: str) -> dict:
    return {"ok": False, "error": {"type": kind, "message": message}}


def redact(event: Any) -> Any:
    """The event as logged: without a token, and short when it is not an object."""
    if isinstance(event, dict):
        return {k: v for k, v in event.items() if k != "token"}
    return repr(event)[:200]
