"""Tile Lambda: API Gateway HTTP API (payload 2.0) -> Mangum -> the app.

Nothing is built at import: the first invocation reads the settings, builds
the app (cache outermost, tiler lazily behind it) and the Mangum adapter; later
invocations reuse them with their Redis/S3 clients. A cache HIT on a cold
start never imports rasterio, xarray, zarr or titiler.

With SnapStart (``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``) the init phase builds all of
it instead, tiler included, so that it is in the snapshot, and registers the hook that resets
every connection after a restore (see :mod:`titiler_eopf.handlers.snapstart`).
"""

from __future__ import annotations

import os
import time
from typing import Any

from titiler_eopf.handlers import observability, snapstart

# Binary vs text is decided by content type (substring match): everything else
# (images, npy, tiff) is returned base64 with isBase64Encoded=true.
TEXT_MIME_TYPES = [
    "text/",
    "application/json",
    "application/geo+json",
    "application/javascript",
    "application/xml",
    "application/vnd.oai.openapi",
]

_adapter = None
_app = None  # the app behind the adapter (its cache, its origin secret)
_cache = None
_stage_root: dict[str, str] = {"value": ""}  # set per invocation, read by _StageRoot


class _StageRoot:
    """Expose a named API Gateway stage as the ASGI ``root_path``.

    With a stage other than ``$default`` the HTTP API puts ``/{stage}`` in
    ``rawPath``. Keeping it in ``path`` and declaring it as ``root_path`` lets
    Starlette route on the rest while URLs it builds (TileJSON) keep the stage.
    """

    def __init__(self, app, base_path: str):
        self.app = app
        self.base_path = base_path.rstrip("/")

    async def __call__(self, scope, receive, send):
        root = self.base_path or _stage_root["value"]
        if root and scope["type"] == "http" and scope["path"].startswith(root + "/"):
            scope = dict(scope, root_path=root)
        await self.app(scope, receive, send)


def _build(clock=None):
    """The adapter and the app, from the environment's settings (``clock``: the app's, see
    ``create_app``; the system clock when None)."""
    from mangum import Mangum

    from titiler_eopf.main import create_app
    from titiler_eopf.settings import load_settings

    settings = load_settings()
    app = create_app(settings, clock=clock)
    adapter = Mangum(
        _StageRoot(app, settings.tiler.root_path),
        lifespan="off",
        api_gateway_base_path="/",
        text_mime_types=TEXT_MIME_TYPES,
    )
    return adapter, app


def _ensure_built() -> None:
    global _adapter, _app, _cache
    if _adapter is None:
        _adapter, _app = _build()
        _cache = _app.cache


def after_restore() -> None:
    """The SnapStart restore hook: no connection of the snapshot is reused."""
    if _app is not None:
        snapstart.reset_connections(_app)


def init_for_snapshot() -> bool:
    """SnapStart init: build the app and its tiler now, and register :func:`after_restore`
    (False where the runtime offers no hook: then nothing is built ahead)."""
    if not snapstart.register_after_restore(after_restore):
        return False
    _ensure_built()
    _app.prime()
    return True


def _stage_of(event: dict) -> str:
    stage = (event.get("requestContext") or {}).get("stage") or "$default"
    raw_path = event.get("rawPath") or ""
    if stage != "$default" and raw_path.startswith(f"/{stage}/"):
        return f"/{stage}"
    return ""


def handler(event: dict, context: Any) -> dict:
    log = observability.logger()
    _ensure_built()
    _stage_root["value"] = _stage_of(event)
    before = observability.counters_snapshot(_cache)
    started = time.perf_counter()
    response = _adapter(event, context)
    elapsed_ms = (time.perf_counter() - started) * 1000
    headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
    x_cache = headers.get("x-cache")
    log.info(
        "request",
        extra={
            "method": ((event.get("requestContext") or {}).get("http") or {}).get("method"),
            "path": event.get("rawPath"),
            "status": response.get("statusCode"),
            "x_cache": x_cache,
            "duration_ms": round(elapsed_ms, 1),
        },
    )
    render_ms = elapsed_ms if x_cache in ("MISS", "BYPASS") else None
    try:
        observability.publish_cache_metrics(
            before, observability.counters_snapshot(_cache), render_ms
        )
    except Exception:  # metrics must never fail a tile
        log.exception("could not publish metrics")
    return response


if os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == "snap-start":
    init_for_snapshot()
