"""Cache seeding: pre-render a bbox x zoom range of presets through the tile endpoint.

Tiles are requested over HTTP from a running server or the deployed API, so the
entries stored are exactly those users hit (same route, same query, same cache
key). Standard library only (and the leaf modules ``paths`` and ``presets``): the
admin Lambda's ``seed`` action and the CLI's ``cache seed`` both run it. A job is
built from a validated :class:`~titiler_eopf.admin.actions.SeedRequest`.

A job's requests are numbered in a fixed order (zoom, preset or render, row, column), so a
run can stop anywhere and continue from the indices already done (the CLI keeps
them in a state file; the admin Lambda returns the next index).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

from titiler_eopf.paths import webmercator_tile_range
from titiler_eopf.presets import Preset, get_preset, tile_url, tilejson_url

if TYPE_CHECKING:
    from titiler_eopf.admin.actions import SeedRequest

USER_AGENT = "titiler-eopf-seed"
OUTCOMES = ("rendered", "cached", "empty", "bypass", "failed")


class SeedError(ValueError):
    """A seeding job that cannot run (unreachable API, a product without bounds, ...)."""


@dataclass(frozen=True)
class SeedJob:
    base_url: str
    collection: str
    item: str
    bbox: tuple[float, float, float, float]
    minzoom: int
    maxzoom: int
    presets: tuple[str, ...] = ("true-colour",)
    # the item's renderings by name (``/renders/{name}``: its STAC renders), resolved up front
    renders: tuple[Preset, ...] = ()

    @classmethod
    def of(cls, request: SeedRequest, base_url: str, bbox) -> SeedJob:
        """The job of a validated request; ``bbox``: the request's, else the product's."""
        return cls(
            base_url,
            request.collection,
            request.item,
            tuple(float(v) for v in bbox),
            request.minzoom,
            request.maxzoom,
            tuple(request.presets or ()),
        )

    @property
    def names(self) -> tuple[str, ...]:
        """The renderings of the job: its presets, then its renders."""
        return (*self.presets, *(r.name for r in self.renders))

    def rendering(self, name: str) -> Preset:
        return next((r for r in self.renders if r.name == name), None) or get_preset(name)

    def _ranges(self) -> Iterator[tuple[int, tuple[int, int, int, int]]]:
        for z in range(self.minzoom, self.maxzoom + 1):
            yield z, webmercator_tile_range(self.bbox, z)

    def count(self) -> int:
        tiles = sum((x1 - x0 + 1) * (y1 - y0 + 1) for _, (x0, y0, x1, y1) in self._ranges())
        return tiles * len(self.names)

    def requests(self) -> Iterator[tuple[int, str, int, int, int]]:
        """``(index, preset, z, x, y)`` in the job's fixed order."""
        index = 0
        for z, (x0, y0, x1, y1) in self._ranges():
            for name in self.names:
                for y in range(y0, y1 + 1):
                    for x in range(x0, x1 + 1):
                        yield index, name, z, x, y
                        index += 1

    def url(self, preset: str, z: int, x: int, y: int) -> str:
        return tile_url(self.base_url, self.collection, self.item, self.rendering(preset), z, x, y)

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


def http_get(url: str, timeout: float, headers: dict | None = None) -> tuple[int, dict, bytes]:
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


def error_detail(body: bytes) -> str:
    try:
        return str(json.loads(body).get("detail", ""))[:300]
    except (ValueError, AttributeError):
        return body[:200].decode("utf-8", "replace")


def fetch_tile(index: int, url: str, timeout: float = 60.0) -> Outcome:
    try:
        status, headers, body = http_get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        reason = getattr(exc, "reason", exc)
        return Outcome(index, url, "failed", error=f"{type(exc).__name__}: {reason}")
    x_cache = headers.get("x-cache")
    if status == 204 or (status == 404 and headers.get("x-tile-empty")):
        return Outcome(index, url, "empty", status, x_cache)  # outside the product: nothing to draw
    if status != 200:
        return Outcome(
            index, url, "failed", status, x_cache, f"HTTP {status}: {error_detail(body)}"
        )
    kind = {"HIT": "cached", "MISS": "rendered"}.get((x_cache or "").upper(), "bypass")
    return Outcome(index, url, kind, status, x_cache)


def item_render(base_url: str, collection: str, item: str, name: str, timeout: float = 30.0):
    """An item's rendering by name, as its ``/renders/{name}`` lists it (its STAC render, or a
    preset that fits it): the seeder then requests the very tile URLs that route lists."""
    url = f"{base_url.rstrip('/')}/collections/{collection}/items/{item}/renders/{name}"
    try:
        status, _, body = http_get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        raise SeedError(f"cannot reach {base_url}: {getattr(exc, 'reason', exc)}") from None
    if status != 200:
        raise SeedError(
            f"rendering {name!r} of {collection}/{item}: HTTP {status}: {error_detail(body)}"
        )
    try:
        render = json.loads(body)
        params = tuple((str(k), str(v)) for k, v in render["params"])
    except (ValueError, KeyError, TypeError):
        raise SeedError(f"rendering {name!r} of {collection}/{item}: not a rendering") from None
    return Preset(name, str(render.get("title") or name), params)


def resolve_renders(base_url: str, collection: str, item: str, names) -> tuple[Preset, ...]:
    return tuple(item_render(base_url, collection, item, name) for name in names)


def product_bounds(
    base_url: str, collection: str, item: str, preset: str | Preset, timeout: float = 30.0
) -> tuple:
    """The product's lon/lat bounds, from its TileJSON (default bbox of a job)."""
    preset = preset if isinstance(preset, Preset) else get_preset(preset)
    url = tilejson_url(base_url, collection, item, preset)
    try:
        status, _, body = http_get(url, timeout)
    except (OSError, urllib.error.URLError) as exc:
        raise SeedError(f"cannot reach {base_url}: {getattr(exc, 'reason', exc)}") from None
    if status != 200:
        raise SeedError(
            f"TileJSON of {collection}/{item} answered HTTP {status}: {error_detail(body)}"
        )
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
