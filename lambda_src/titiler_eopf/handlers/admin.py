"""Admin Lambda: cache status, key listing, invalidation, purge and seeding, by direct invoke.

Not reachable through the API. Event::

    {"action": "status"}
    {"action": "keys", "pattern": "*", "limit": 100, "cursor": null}
    {"action": "invalidate", "scope": "collection"|"item"|"key"|"url"|"tiles"|"pattern", ...,
     "dry_run": false}
    {"action": "purge", "scope": "collection"|"item", "collection": "...", "item": "...",
     "dry_run": false}
    {"action": "seed", "collection": "...", "item": "...", "minzoom": 10, "maxzoom": 12,
     "bbox": [minlon, minlat, maxlon, maxlat], "presets": ["true-colour"], "start": 0}

The admin service (``titiler_eopf.admin``) validates and executes them, as it does for
the ``/admin/cache/*`` routes and the CLI. This module only adapts Lambda to it: the
service is built once per container from the settings, and ``seed`` gets a deadline
``SEED_TIME_MARGIN_S`` before the function's timeout (it then answers ``next``, the
``start`` of the following invocation). ``seed`` requests go to
``TITILER_EOPF_SEED_API_URL`` (set by the stack; never a URL from the event).

Reply ``{"ok": true, ...}`` or ``{"ok": false, "error": {"type", "message"}}``.
"""

from __future__ import annotations

import time
from typing import Any

from titiler_eopf.admin.service import AdminService, error_reply
from titiler_eopf.handlers import observability

SEED_TIME_MARGIN_S = 15  # stop submitting this long before the function's timeout

_service: AdminService | None = None


def _get_service() -> AdminService:
    global _service
    if _service is None:
        from titiler_eopf.settings import load_settings

        _service = AdminService.from_settings(load_settings())
    return _service


def deadline_of(context: Any) -> float | None:
    """``time.monotonic()`` at which a long action stops submitting work."""
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if not callable(remaining):
        return None
    return time.monotonic() + remaining() / 1000 - SEED_TIME_MARGIN_S


def handler(event: Any, context: Any) -> dict:
    log = observability.logger()
    try:
        service = _get_service()
    except Exception as exc:  # bad settings: reported, never a stack trace
        log.exception("admin service unavailable")
        return error_reply(type(exc).__name__, str(exc) or type(exc).__name__)
    return service.reply(event, deadline_of(context), log=log)
