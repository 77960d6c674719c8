"""The error map on the HTTP side: exception handlers and the route class of the tiler's routers.

:func:`add_exception_handlers` answers every exception of the map
(:func:`titiler_eopf.tiler.errors.status_codes`) with its status and ``{"detail": message}``; a
tile outside the data also says so in ``X-Tile-Empty``, so that the tile cache may keep that
answer (briefly) and tell it apart from a 404 for an unknown item.

:class:`ClassifiedRoute` is the ``route_class`` of the item and mosaic routers (FastAPI's
documented way to wrap every endpoint of a router): what an endpoint raises outside the map
(a bug, a library failure outside a store read) becomes an error of its class, logged with the
item and the variables of the request.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from titiler_eopf.tiler.errors import (
    EOPFError,
    StoreError,
    classify,
    status_codes,
    status_of,
)

logger = logging.getLogger("titiler_eopf")


def add_exception_handlers(app: FastAPI) -> None:
    """One handler for every class of the error map."""
    from rio_tiler.errors import TileOutsideBounds

    def handler(request: Request, exc: Exception) -> JSONResponse:
        code = status_of(exc)
        if code >= 500:  # the route logged the item and variables; this names the request
            logger.error("%s %s failed (%d): %s", request.method, request.url.path, code, exc)
        headers = None
        if isinstance(exc, TileOutsideBounds):
            # "No data here" is an answer the tile cache may keep (briefly); the header tells
            # it apart from a 404 for an unknown collection or item.
            headers = {"X-Tile-Empty": "outside-bounds"}
        return JSONResponse({"detail": str(exc)}, status_code=code, headers=headers)

    for exc_class in status_codes():
        app.add_exception_handler(exc_class, handler)


def _label(request: Request) -> str:
    params = request.path_params
    if "item_id" in params:
        return f"{params.get('collection_id')}/{params['item_id']}"
    if "collection_id" in params:
        return str(params["collection_id"])
    return request.url.path


def in_class(exc: Exception, request: Request) -> Exception:
    """The error to answer with for what an endpoint raised; 5xx logged with the item and the
    variables."""
    if isinstance(exc, (HTTPException, RequestValidationError, EOPFError)):
        return exc
    codes = status_codes()
    if any(cls in codes for cls in type(exc).__mro__) and status_of(exc) < 500:
        return exc  # rio-tiler's request errors
    where = _label(request)
    error = classify(exc, where)
    if error is None:  # a store failure outside the store reads' boundary
        error = StoreError(f"Cannot read {where} from the product store ({type(exc).__name__})")
    elif error is exc:
        return exc
    if status_of(error) >= 500:
        logger.error(
            "%s failed for %s, variables %s: %s: %s",
            request.url.path,
            where,
            request.query_params.getlist("variables"),
            type(exc).__name__,
            exc,
            exc_info=exc,
        )
    return error


class ClassifiedRoute(APIRoute):
    """An APIRoute whose endpoint failures are put in their class (:func:`in_class`)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def classified(request: Request) -> Response:
            try:
                return await handle(request)
            except Exception as exc:  # noqa: BLE001 - put in its class, then raised
                error = in_class(exc, request)
                if error is exc:
                    raise
                raise error from exc

        return classified
