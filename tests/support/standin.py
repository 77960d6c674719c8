"""A small real ASGI app with the tiler's route shapes (stand-in renderer).

Bodies are deterministic: a function of the route, the path parameters and
the query (names unordered, repeated values in order, as the real tiler reads
them), so a test can tell exactly which request a body belongs to. Every
render is counted by the app's ``StandIn`` and, when ``STANDIN_RENDER_LOG`` is set,
appended to that file so renders in other processes can be counted too.

Behaviour switches (deterministic by path, so they work across processes):
item ``empty`` -> tiles 204; ``missing`` -> 404 (unknown item); ``outside`` -> 404
marked ``X-Tile-Empty``; ``boom`` -> 500; ``slow`` ->
sleeps ``STANDIN_SLOW`` seconds (default 0.3) before answering, or, in one process, waits for
its ``StandIn.finish`` event when a test gave one. Switches of one app
(``fail``, ``version``, ``finish``) are attributes of its ``StandIn``.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

CONTENT_TYPES = {
    "png": "image/png",
    "jpeg": "image/jpeg",
    "jpg": "image/jpeg",
    "webp": "image/webp",
    "tif": "image/tiff",
    "npy": "application/x-binary",
    "jp2": "image/jp2",
    "pngraw": "image/png",
    "": "image/png",
}


@dataclass
class StandIn:
    """One stand-in app's switches and render count: each test makes its own (the
    ``standin`` fixture), so no state outlives a test or leaks between apps.

    ``fail``: every render answers 500; ``version``: part of every body, bump it to make
    a re-render recognisable (read when the render starts, like a tiler reading the data
    as it was then); ``renders``: renders in this process; ``render_log``: a file every
    render is also appended to, so renders in other processes can be counted too.
    """

    fail: bool = False
    version: int = 1
    renders: int = 0
    render_log: str | None = field(default_factory=lambda: os.environ.get("STANDIN_RENDER_LOG"))
    # A test's hand on ``slow`` renders: ``rendering`` is set when one starts and, when
    # ``finish`` is given, the render lasts until the test sets it (instead of a sleep), so
    # a fault can be injected at a known step of a render.
    rendering: threading.Event = field(default_factory=threading.Event, repr=False)
    finish: threading.Event | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def note_render(self, desc: str) -> None:
        with self._lock:
            self.renders += 1
        if self.render_log:
            with open(self.render_log, "a") as fh:  # O_APPEND: one short line per render, atomic
                fh.write(f"{os.getpid()} {desc}\n")

    def app(self, compress: bool = False):
        """The stand-in app; ``compress=True`` wraps it in its own GZipMiddleware, i.e. an
        inner app that compresses whenever the request allows it."""
        app = Starlette(routes=routes)
        app.state.standin = self
        if compress:
            return GZipMiddleware(app, minimum_size=100)
        return app


def create_app(compress: bool = False):
    """A stand-in app with switches of its own (the ASGI factory of ``standin_server``)."""
    return StandIn().app(compress)


def _standin(request: Request) -> StandIn:
    return request.app.state.standin


def canonical(request: Request) -> dict:
    grouped: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        grouped.setdefault(name, []).append(value)
    return {
        "route": request.scope["route"].name,
        "path": dict(request.path_params),
        "query": {k: grouped[k] for k in sorted(grouped)},
    }


def body_for(doc: dict, size: int = 2048, version: int = 1) -> bytes:
    """Deterministic bytes of ``size`` for a request description and data version."""
    seed = json.dumps([doc.get("query"), doc, version], sort_keys=True).encode()
    out = bytearray(b"STANDIN" + seed[:400])
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(4, "big")).digest()
        counter += 1
    return bytes(out[:size])


def _behaviour(request: Request) -> Response | None:
    item = request.path_params.get("item")
    if item == "slow":
        standin = _standin(request)
        standin.rendering.set()
        if standin.finish is None:
            time.sleep(float(os.environ.get("STANDIN_SLOW", "0.3")))
        elif not standin.finish.wait(60):
            return Response(b"the test never ended this render", status_code=500)
    if _standin(request).fail or item == "boom":
        return Response(b"render failed", status_code=500, media_type="text/plain")
    if item == "missing":  # an unknown item: not cacheable
        return JSONResponse({"detail": "Item 'missing' not found"}, status_code=404)
    if item == "outside":  # no data at this tile: the tiler marks it cacheable
        return JSONResponse(
            {"detail": "Tile outside bounds"}, status_code=404, headers={"x-tile-empty": "1"}
        )
    return None


def tile(request: Request) -> Response:
    doc = canonical(request)
    version = _standin(request).version
    _standin(request).note_render(json.dumps(doc, sort_keys=True))
    early = _behaviour(request)
    if early is not None:
        return early
    if request.path_params.get("item") == "empty":
        return Response(status_code=204)
    fmt = request.path_params.get("format", "")
    size = int(request.query_params.get("size", "2048"))
    return Response(
        body_for(doc, size, version),
        media_type=CONTENT_TYPES.get(fmt, "image/png"),
        headers={"x-render-pid": str(os.getpid())},
    )


def metadata(request: Request) -> Response:
    doc = canonical(request)
    _standin(request).note_render(json.dumps(doc, sort_keys=True))
    early = _behaviour(request)
    if early is not None:
        return early
    # Big, compressible JSON: a compression middleware will gzip it.
    payload = {"request": doc, "filler": ["tile metadata"] * 200}
    return JSONResponse(payload)


def image(request: Request) -> Response:
    doc = canonical(request)
    _standin(request).note_render(json.dumps(doc, sort_keys=True))
    early = _behaviour(request)
    if early is not None:
        return early
    fmt = request.path_params.get("format", "png")
    return Response(
        body_for(doc, 4096, _standin(request).version),
        media_type=CONTENT_TYPES.get(fmt, "image/png"),
    )


def uncached(request: Request) -> Response:
    _standin(request).note_render("uncached " + request.url.path)
    return JSONResponse({"path": request.url.path, "n": _standin(request).renders})


P = "/collections/{collection}/items/{item}"
routes = [
    Route(P + "/tiles/{tms}/{z:int}/{x:int}/{y:int}@{scale:int}x.{format}", tile, name="tile"),
    Route(P + "/tiles/{tms}/{z:int}/{x:int}/{y:int}@{scale:int}x", tile, name="tile"),
    Route(P + "/tiles/{tms}/{z:int}/{x:int}/{y:int}.{format}", tile, name="tile"),
    Route(P + "/tiles/{tms}/{z:int}/{x:int}/{y:int}", tile, name="tile"),
    Route(P + "/{tms}/tilejson.json", metadata, name="tilejson"),
    Route(P + "/info", metadata, name="info"),
    Route(P + "/info.geojson", metadata, name="info"),
    Route(P + "/statistics", metadata, name="statistics", methods=["GET", "POST"]),
    Route(P + "/preview", image, name="preview"),
    Route(P + "/preview.{format}", image, name="preview"),
    Route(P + "/preview/{width:int}x{height:int}.{format}", image, name="preview"),
    Route(
        P + "/bbox/{minx},{miny},{maxx},{maxy}/{width:int}x{height:int}.{format}",
        image,
        name="bbox",
    ),
    Route(P + "/bbox/{minx},{miny},{maxx},{maxy}.{format}", image, name="bbox"),
    Route(P + "/point/{lon},{lat}", uncached, name="point"),
    Route(P + "/map", uncached, name="map"),
    Route("/healthz", uncached, name="healthz"),
    Route("/tileMatrixSets", uncached, name="tms"),
]
