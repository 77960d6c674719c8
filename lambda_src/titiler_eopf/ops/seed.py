"""Cache seeding: pre-render a bbox x zoom range of presets through the tile endpoint.

Tiles are requested over HTTP from a running server or the deployed API, so the
entries stored are exactly those users hit (same route, same query, same cache
key). Standard library only: the admin Lambda runs this too (``seed`` action).

A job's requests are numbered in a fixed order (zoom, preset, row, column), so a
run can stop anywhere and continue from the indices already done (the CLI keeps
them in a state file; the admin Lambda returns the next index).
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field

from titiler_eopf.presets import get_preset, tile_url, tilejson_url

MAX_ZOOM = 24
USER_AGENT = "titiler-eopf-seed"
OUTCOMES = ("rendered", "cached", "empty", "bypass", "failed")


class SeedError(ValueError):
    """A seeding job that cannot run (bad range, unreachable API, ...)."""


def _tile_range(bbox: tuple[float, float, float, float], z: int) -> tuple[int, int, int, int]:
    """Inclusive WebMercatorQuad x/y range of a lon/lat bbox at zoom z."""
    minx, miny, maxx, maxy = bbox
    n = 2**z
    lat_max = 85.0511287798066

    def tx(lon: float) -> int:
        return min(n - 1, max(0, math.floor((lon + 180.0) / 360.0 * n)))

    def ty(lat: float) -> int:
        r = math.radians(max(-lat_max, min(lat_max, lat)))
        return min(n - 1, max(0, math.floor((1 - math.asinh(math.tan(r)) / math.pi) / 2 * n)))

    return tx(minx), ty(maxy), tx(maxx), ty(miny)


def check_bbox(bbox) -> tuple[float, float, float, float]:
    if bbox is None or len(bbox) != 4:
        raise SeedError("bbox must be minlon,minlat,maxlon,maxlat (4 numbers)")
    try:
        minx, miny, maxx, maxy = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise SeedError("bbox must be minlon,minlat,maxlon,maxlat (4 numbers)") from None
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise SeedError(
            "bbox out of range: need -180 <= minlon < maxlon <= 180 and -90 <= minlat < maxlat <= 90"
        )
    return minx, miny, maxx, maxy


@dataclass(frozen=True)
class SeedJob:
    base_url: str
    collection: str
    item: str
    bbox: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int
    presets: tuple[str, ...] = ("true-colour",)

    def __post_init__(self):
        if not (0 <= self.minzoom <= self.maxzoom <= MAX_ZOOM):
            raise SeedError(f"zoom range must satisfy 0 <= minzoom <= maxzoom <= {MAX_ZOOM}")
        if not self.presets:
            raise SeedError("at least one preset is needed")
        for name in self.presets:
            try:
                get_preset(name)
            except ValueError as exc:
                raise SeedError(str(exc)) from None
        object.__setattr__(self, "bbox", check_bbox(self.bbox))

    def _ranges(self) -> Iterator[tuple[int, tuple[int, int, int, int]]]:
        for z in range(self.minzoom, self.maxzoom + 1):
            yield z, _tile_range(self.bbox, z)

    def count(self) -> int:
        tiles = sum((x1 - x0 + 1) * (y1 - y0 + 1) for _, (x0, y0, x1, y1) in self._ranges())
        return tiles * len(self.presets)

    def requests(self) -> Iterator[tuple[int, str, int, int, int]]:
        """``(index, preset, z, x, y)`` in the job's fixed order."""
        index = 0
        for z, (x0, y0, x1, y1) in self._ranges():
            for name in self.presets:
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        yield index, name, z, x, y
                        index += 1

    def url(self, preset: str, z: int, x: int, y: int) -> str:
        return tile_url(self.base_url, self.collection, self.item, get_preset(preset), z, x, y)

    def signature(self) -> str:
        """Identifies the job (a state file belongs to one job only)."""
        text = json.dumps(asdict(self), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Outcome:
    index: int
    url: str
    kind: str  # one of OUTCOMES
    status: int | None = None
    x_cache: str | None = None
    error: str | None = None


@dataclass
class Summary:
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    failures: list[dict] = field(default_factory=list)  # the first few, for the report
    seconds: float = 0.0

    def add(self, outcome: Outcome, keep: int = 20) -> None:
        self.counts[outcome.kind] += 1
        if outcome.kind == "failed" and len(self.failures) < keep:
            self.failures.append(
                {"url": outcome.url, "status": outcome.status, "error": outcome.error}
            )

    def to_dict(self) -> dict:
        return {
            "counts": dict(self.counts),
            "failures": list(self.failures),
            "seconds": round(self.seconds, 2),
        }


def _get(url: str, timeout: float, headers: dict | None = None) -> tuple[int, dict, bytes]:
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - operator-given URL
            return (
                response.status,
                {k.lower(): v for k, v in response.headers.items()},
                response.read(),
            )
    except urllib.error.HTTPError as exc:
        return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def _detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail", ""))[:300]
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def fetch_tile(index: int, url: str, timeout: float = 60.0) -> Outcome:
    try:
        status, headers, body = _get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(index, url, "failed", error=f"{type(exc).__name__}: {reason}")
    x_cache = headers.get("x-cache")
    if status == 204 or (status == 404 and headers.get("x-tile-empty")):
        return Outcome(index, url, "empty", status, x_cache)  # outside the product: nothing to draw
    if status != 200:
        return Outcome(index, url, "failed", status, x_cache, f"HTTP {status}: {_detail(body)}")
    kind = {"HIT": "cached", "MISS": "rendered"}.get((x_cache or "").upper(), "bypass")
    return Outcome(index, url, kind, status, x_cache)


def product_bounds(
    base_url: str, collection: str, item: str, preset: str, timeout: float = 30.0
) -> tuple:
    """The product's lon/lat bounds, from its TileJSON (default bbox of a job)."""
    url = tilejson_url(base_url, collection, item, get_preset(preset))
    try:
        status, _, body = _get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        raise SeedError(f"cannot reach {base_url}: {getattr(exc, 'reason', exc)}") from None
    if status != 200:
        raise SeedError(f"TileJSON of {collection}/{item} answered HTTP {status}: {_detail(body)}")
    try:
        bounds = json.loads(body)["bounds"]
    except (ValueError, KeyError, TypeError):
        raise SeedError(f"TileJSON of {collection}/{item} has no bounds") from None
    return tuple(float(v) for v in bounds)


def run(
    job: SeedJob,
    todo: Iterable[tuple[int, str, int, int, int]],
    *,
    concurrency: int = 4,
    on_result: Callable[[Outcome], None] | None = None,
    deadline: float | None = None,
    stop: threading.Event | None = None,
    timeout: float = 60.0,
) -> tuple[Summary, int | None]:
    """Request ``todo`` with at most ``concurrency`` in flight.

    Returns the summary and the first index not attempted (None when every
    request of ``todo`` was made): a ``deadline`` (``time.monotonic()``) or
    ``stop`` ends submission early; requests already in flight finish.
    """
    summary = Summary()
    started = time.monotonic()
    todo = iter(todo)

    def out_of_time() -> bool:
        return (deadline is not None and time.monotonic() >= deadline) or (
            stop is not None and stop.is_set()
        )

    def record(outcome: Outcome) -> None:
        summary.add(outcome)
        if on_result:
            on_result(outcome)

    def finish(next_index: int | None) -> tuple[Summary, int | None]:
        summary.seconds = time.monotonic() - started
        return summary, next_index

    if out_of_time():
        return finish(_peek(todo))
    # The first request goes alone: the cache creates a scope's generations with
    # its first stored entry, and concurrent first writes into a fresh scope are
    # refused by its conditional write (rendered, not stored).
    first = next(todo, None)
    if first is None:
        return finish(None)
    record(fetch_tile(first[0], job.url(*first[1:]), timeout))

    pending: dict = {}
    next_index: int | None = None
    stopped = False
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="seed") as pool:
        try:
            while True:
                while not stopped and len(pending) < concurrency:
                    if out_of_time():
                        next_index, stopped = _peek(todo), True
                        break
                    request = next(todo, None)
                    if request is None:
                        stopped = True
                        break
                    index, preset, z, x, y = request
                    pending[pool.submit(fetch_tile, index, job.url(preset, z, x, y), timeout)] = (
                        index
                    )
                if not pending:
                    break
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    pending.pop(future)
                    record(future.result())
        finally:
            for future in pending:  # interrupted: requests not started yet are dropped
                future.cancel()
    return finish(next_index)


def _peek(todo: Iterator) -> int | None:
    request = next(todo, None)
    return None if request is None else request[0]
