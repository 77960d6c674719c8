"""Admin Lambda: cache status, key listing, invalidation and purge, by direct invoke.

Not reachable through the API. Event::

    {"action": "status"}
    {"action": "keys", "pattern": "*", "limit": 100, "cursor": null}
    {"action": "invalidate", "scope": "collection"|"item"|"key"|"url"|"tiles"|"pattern", ...,
     "dry_run": false}
    {"action": "purge", "scope": "collection"|"item", "collection": "...", "item": "...",
     "dry_run": false}
    {"action": "seed", "collection": "...", "item": "...", "minzoom": 10, "maxzoom": 12,
     "bbox": [minlon, minlat, maxlon, maxlat], "presets": ["true-colour"], "start": 0}

``seed`` requests at most ``MAX_SEED_TILES`` tiles per invocation through the
tile API (``TITILER_EOPF_SEED_API_URL``, set by the stack; never a URL from the
event), stops submitting before the function's time runs out, and answers the
counts and ``next``: the ``start`` of the following invocation (null when done).

Reply ``{"ok": true, ...}`` or ``{"ok": false, "error": {"type", "message"}}``:
a bad event is answered with a clear error, never a stack trace, and deletes
nothing. It calls the same invalidation functions as ``/admin/cache/*``.
"""

from __future__ import annotations

from typing import Any

from titiler_eopf.handlers import observability

ACTIONS = ("status", "keys", "invalidate", "purge", "seed")
PURGE_SCOPES = ("collection", "item")
MAX_KEYS = 1000
MAX_SEED_TILES = 500  # per invocation; the caller continues from "next"
MAX_SEED_CONCURRENCY = 16
SEED_TIME_MARGIN_S = 15  # stop submitting this long before the function's timeout

_cache = None


class BadEvent(ValueError):
    """The event is not something this function can do."""


def _get_cache():
    global _cache
    if _cache is None:
        from titiler_eopf.cache import build_cache, load_settings
        from titiler_eopf.tiler.settings import TilerSettings

        _cache = build_cache(load_settings())
        # URL invalidation of responses keyed by base URL (TileJSON) uses the public URL.
        _cache.public_url = TilerSettings().public_url or ""
    return _cache


KIND_NAMES = {bool: "a boolean", str: "a string", int: "an integer", list: "a list"}


def _seed(event: dict, context: Any) -> dict:
    """One bounded slice of a seeding job, through the deployed tile API."""
    import os
    import time

    from titiler_eopf.ops import seed

    base_url = os.environ.get("TITILER_EOPF_SEED_API_URL") or os.environ.get(
        "TITILER_EOPF_PUBLIC_URL"
    )
    if not base_url:
        raise BadEvent(
            "seeding needs the API URL: set TITILER_EOPF_SEED_API_URL (the stack sets it)"
        )
    presets = _expect(event, "presets", list) or ["true-colour"]
    if not all(isinstance(p, str) for p in presets):
        raise BadEvent("'presets' must be a list of preset names")
    for name in ("start", "concurrency"):
        _expect(event, name, int)
    if event.get("minzoom") is None or event.get("maxzoom") is None:
        raise BadEvent("seed needs 'minzoom' and 'maxzoom'")
    start = event.get("start") or 0
    limit = event.get("limit") or MAX_SEED_TILES
    concurrency = event.get("concurrency") or 8
    if (
        start < 0
        or not 1 <= limit <= MAX_SEED_TILES
        or not 1 <= concurrency <= MAX_SEED_CONCURRENCY
    ):
        raise BadEvent(
            f"need start >= 0, 1 <= limit <= {MAX_SEED_TILES}, 1 <= concurrency <= {MAX_SEED_CONCURRENCY}"
        )
    collection, item = event.get("collection"), event.get("item")
    if not collection or not item:
        raise BadEvent("seed needs 'collection' and 'item'")
    try:
        bbox = event.get("bbox") or seed.product_bounds(base_url, collection, item, presets[0])
        job = seed.SeedJob(
            base_url,
            collection,
            item,
            tuple(bbox),
            event["minzoom"],
            event["maxzoom"],
            tuple(presets),
        )
    except seed.SeedError as exc:
        raise BadEvent(str(exc)) from None
    total = job.count()
    todo = (r for r in job.requests() if start <= r[0] < start + limit)
    deadline = None
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        deadline = time.monotonic() + remaining() / 1000 - SEED_TIME_MARGIN_S
    summary, stopped_at = seed.run(job, todo, concurrency=concurrency, deadline=deadline)
    end = min(start + limit, total)
    next_start = stopped_at if stopped_at is not None else (end if end < total else None)
    return {
        "total": total,
        "start": start,
        "next": next_start,
        "bbox": list(job.bbox),
        **summary.to_dict(),
    }


def _expect(event: dict, name: str, kind: type):
    """``event[name]`` if present and of ``kind`` (a JSON true is not an integer)."""
    value = event.get(name)
    if value is None:
        return None
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise BadEvent(f"'{name}' must be {KIND_NAMES[kind]}, got {type(value).__name__}")
    return value


def _check_common(event: dict) -> None:
    for name in ("dry_run", "confirm", "hard"):
        _expect(event, name, bool)
    for name in ("collection", "item", "key", "url", "pattern", "cursor", "tms", "scope"):
        _expect(event, name, str)
    for name in ("minzoom", "maxzoom", "limit"):
        _expect(event, name, int)
    bbox = _expect(event, "bbox", list)
    if bbox is not None and (
        len(bbox) != 4
        or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in bbox)
    ):
        raise BadEvent("'bbox' must be a list of 4 numbers [minlon, minlat, maxlon, maxlat]")


def run(event: Any, context: Any = None) -> dict:
    """Validate and execute one admin event (the invalidation module does the work)."""
    from titiler_eopf.cache import invalidation

    if not isinstance(event, dict):
        raise BadEvent(f"the event must be a JSON object, got {type(event).__name__}")
    action = event.get("action")
    if action not in ACTIONS:
        raise BadEvent(f"unknown action {action!r}; expected one of: {', '.join(ACTIONS)}")
    _check_common(event)
    if action == "seed":  # through the tile API: the cache is the tile Lambda's business
        return {"result": _seed(event, context)}
    cache = _get_cache()

    if action == "status":
        return {"status": cache.admin_status()}
    if action == "keys":
        limit = event.get("limit", 100)
        if not 1 <= limit <= MAX_KEYS:
            raise BadEvent(f"'limit' must be between 1 and {MAX_KEYS}, got {limit}")
        return invalidation.list_keys(
            cache, event.get("pattern") or "*", limit=limit, cursor=event.get("cursor")
        )
    if "scope" not in event:
        raise BadEvent(
            f"'scope' is required for action '{action}' "
            f"(one of: {', '.join(invalidation.SCOPES if action == 'invalidate' else PURGE_SCOPES)})"
        )
    request = {k: v for k, v in event.items() if k != "action"}
    if action == "purge":
        if event["scope"] not in PURGE_SCOPES:
            raise BadEvent(
                f"purge works on scope {' or '.join(PURGE_SCOPES)} (got {event['scope']!r}); "
                "use action 'invalidate' for keys, urls, tile ranges and patterns"
            )
        request["hard"] = True
    return {"result": invalidation.invalidate(cache, request).to_dict()}


def handler(event: Any, context: Any) -> dict:
    log = observability.logger()
    from titiler_eopf.cache.invalidation import InvalidInput

    try:
        reply = {"ok": True, **run(event, context)}
    except (BadEvent, InvalidInput) as exc:
        log.warning("rejected admin event", extra={"error": str(exc), "event": _redact(event)})
        return {"ok": False, "error": {"type": "BadRequest", "message": str(exc)}}
    except Exception as exc:  # a backend failure: reported, never a stack trace
        log.exception("admin action failed", extra={"event": _redact(event)})
        return {
            "ok": False,
            "error": {"type": type(exc).__name__, "message": str(exc) or type(exc).__name__},
        }
    log.info("admin action", extra={"action": event.get("action"), "event": _redact(event)})
    return reply


def _redact(event: Any) -> Any:
    return (
        {k: v for k, v in event.items() if k != "token"}
        if isinstance(event, dict)
        else repr(event)[:200]
    )
