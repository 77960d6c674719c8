"""Admin and status HTTP routes.

``build_admin_router`` refuses to build without a token and every route
depends on the bearer check (compared in constant time): an auth flag that
nothing enforces (defect 7) cannot exist here. Missing/malformed credentials
answer 401, a wrong token 403. Endpoints are sync ``def``: FastAPI runs them
in its thread pool, where the blocking backend calls belong.
"""

from __future__ import annotations

import hmac
from typing import Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from . import invalidation as inv
from .circuit import CacheError
from .core import TileCache


class InvalidateBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["collection", "item", "key", "url", "tiles", "pattern"]
    collection: str | None = None
    item: str | None = None
    key: str | None = None
    url: str | None = None
    minzoom: int | None = Field(None, ge=0, le=inv.MAX_ZOOM)
    maxzoom: int | None = Field(None, ge=0, le=inv.MAX_ZOOM)
    bbox: list[float] | None = Field(None, min_length=4, max_length=4)
    tms: str = "WebMercatorQuad"
    pattern: str | None = None
    limit: int = Field(1000, ge=1, le=inv.MAX_LIMIT)
    cursor: str | None = None
    confirm: bool = False
    hard: bool = False  # collection/item: also delete the entries, not only bump
    dry_run: bool = False


def _run(fn, *args, **kwargs):
    try:
        result = fn(*args, **kwargs)
    except inv.InvalidInput as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from exc
    except CacheError as exc:
        raise HTTPException(
            status_code=503, detail=f"cache backend unavailable: {type(exc).__name__}"
        ) from exc
    return result.to_dict() if hasattr(result, "to_dict") else result


def build_admin_router(cache: TileCache, token: str) -> APIRouter:
    """Routes under ``/admin/cache``; mount only when an admin token is configured."""
    if not token or not token.strip():
        raise ValueError(
            "build_admin_router needs a non-empty admin token (TITILER_EOPF_ADMIN_TOKEN)"
        )
    expected = token.encode()

    def require_admin(request: Request) -> None:
        header = request.headers.get("authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(
                status_code=401,
                detail="bearer token required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not hmac.compare_digest(value.strip().encode(), expected):
            raise HTTPException(status_code=403, detail="invalid admin token")

    router = APIRouter(
        prefix="/admin/cache", tags=["cache admin"], dependencies=[Depends(require_admin)]
    )

    @router.get("/status")
    def status() -> dict:
        return cache.admin_status()

    @router.get("/keys")
    def keys(
        pattern: str = Query("*", max_length=512),
        limit: int = Query(100, ge=1, le=1000),
        cursor: str | None = None,
    ) -> dict:
        return _run(inv.list_keys, cache, pattern, limit=limit, cursor=cursor)

    @router.post("/invalidate")
    def invalidate(body: InvalidateBody) -> dict:
        return _run(inv.invalidate, cache, body.model_dump())

    @router.api_route("/invalidate/key/{key:path}", methods=["POST", "DELETE"])
    def invalidate_key(key: str, dry_run: bool = False) -> dict:
        return _run(inv.invalidate_key, cache, key, dry_run=dry_run)

    @router.api_route("/invalidate/pattern/{pattern:path}", methods=["POST", "DELETE"])
    def invalidate_pattern(
        pattern: str,
        limit: int = Query(1000, ge=1, le=inv.MAX_LIMIT),
        cursor: str | None = None,
        confirm: bool = False,
        dry_run: bool = False,
    ) -> dict:
        return _run(
            inv.invalidate_pattern,
            cache,
            pattern,
            limit=limit,
            cursor=cursor,
            confirm=confirm,
            dry_run=dry_run,
        )

    return router


def build_status_router(cache: TileCache) -> APIRouter:
    """Public ``/cache/status`` for health checks: counters and circuit states,
    no hosts, buckets or secrets."""
    router = APIRouter(tags=["cache"])

    @router.get("/cache/status")
    def cache_status() -> dict:
        return cache.public_status()

    return router
