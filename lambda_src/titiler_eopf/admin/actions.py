"""Every admin action as a pydantic model: the one place an admin request is validated.

The HTTP routes take these models as their body or query (FastAPI validates them), the admin
Lambda and the CLI's local target parse an event ``{"action": ..., **fields}`` with
:func:`parse_event`. Two kinds of error come out of a model:

* the shape (a type, a bound, an unknown scope): pydantic's own errors, HTTP 422;
* a well-formed request that asks something impossible (maxzoom below minzoom, a bbox off the
  globe, an item scope without an item): :data:`BAD_REQUEST` errors, HTTP 400.

What only the cache can judge (a key's form, a URL the cache does not serve, a cursor of its
backend, names that are path segments) is checked by :mod:`titiler_eopf.cache.invalidation`.
"""

from __future__ import annotations

import math
import typing
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError

from titiler_eopf.cache.invalidation import MAX_LIMIT
from titiler_eopf.paths import MAX_ZOOM
from titiler_eopf.presets import DEFAULT_PRESET, get_preset

BAD_REQUEST = "bad_request"  # the pydantic error type of a well-formed impossible request
SCOPES = ("collection", "item", "key", "url", "tiles", "pattern")
PURGE_SCOPES = ("collection", "item")
MAX_KEYS = 1000  # entries listed per page
MAX_SEED_TILES = 500  # requests of one seed invocation; the caller continues from "next"
MAX_SEED_CONCURRENCY = 16

Zoom = Field(None, ge=0, le=MAX_ZOOM)
BBox = Field(None, min_length=4, max_length=4, description="[minlon, minlat, maxlon, maxlat]")


class BadRequest(ValueError):
    """An admin request that cannot be done; nothing was changed."""


def bad_request(message: str) -> PydanticCustomError:
    return PydanticCustomError(BAD_REQUEST, message)


def check_zoom_range(minzoom: int | None, maxzoom: int | None, missing: str) -> None:
    if minzoom is None or maxzoom is None:
        raise bad_request(missing)
    if not minzoom <= maxzoom:  # each bound is a Field bound (0..MAX_ZOOM)
        raise bad_request(f"zoom range must satisfy 0 <= minzoom <= maxzoom <= {MAX_ZOOM}")


def check_bbox(bbox: list[float] | None) -> None:
    if bbox is None:
        return
    if not all(math.isfinite(v) for v in bbox):
        raise bad_request("bbox must be [minlon, minlat, maxlon, maxlat] (lon/lat degrees)")
    minx, miny, maxx, maxy = bbox
    if not (-180 <= minx < maxx <= 180 and -90 <= miny < maxy <= 90):
        raise bad_request(
            "bbox out of range: need -180 <= minlon < maxlon <= 180"
            " and -90 <= minlat < maxlat <= 90"
        )


class AdminRequest(BaseModel):
    """Unknown fields are refused (a typo must not widen an invalidation)."""

    model_config = ConfigDict(extra="forbid")
    action: ClassVar[str]


class StatusRequest(AdminRequest):
    """Backend, counters, circuit breakers."""

    action = "status"


class KeysRequest(AdminRequest):
    """One page of entry ids (a bounded scan; pass ``cursor`` back for the next page)."""

    # Read-only: unknown query parameters are ignored, as before.
    model_config = ConfigDict(extra="ignore")
    action = "keys"
    pattern: str = Field("*", max_length=512, description="glob on entry ids, or on item ids")
    limit: int = Field(100, ge=1, le=MAX_KEYS)
    cursor: str | None = None


class InvalidateRequest(AdminRequest):
    """Invalidate one scope: a collection or an item (generation bump; ``hard`` also deletes
    the entries), one key, one URL, a tile range, or a glob pattern (bounded, resumable)."""

    action = "invalidate"
    scope: Literal["collection", "item", "key", "url", "tiles", "pattern"]
    collection: str | None = None
    item: str | None = None
    key: str | None = None
    url: str | None = None
    minzoom: int | None = Zoom
    maxzoom: int | None = Zoom
    bbox: list[float] | None = BBox
    tms: str = "WebMercatorQuad"
    pattern: str | None = None
    limit: int = Field(1000, ge=1, le=MAX_LIMIT)
    cursor: str | None = None
    confirm: bool = False  # a pattern that matches every entry
    hard: bool = False  # collection/item: also delete the entries, not only bump
    dry_run: bool = False

    @model_validator(mode="after")
    def _scope_needs(self) -> InvalidateRequest:
        if self.scope == "item" and not self.item:
            raise bad_request("item scope needs collection and item")
        if self.scope == "tiles":
            check_zoom_range(self.minzoom, self.maxzoom, "minzoom and maxzoom are required")
        check_bbox(self.bbox)
        return self


class PurgeRequest(AdminRequest):
    """Bump and delete a collection or an item (``invalidate`` with ``hard``)."""

    action = "purge"
    scope: Literal["collection", "item"]
    collection: str | None = None
    item: str | None = None
    dry_run: bool = False

    @field_validator("scope", mode="before")
    @classmethod
    def _purge_scope(cls, value: Any) -> Any:
        if isinstance(value, str) and value not in PURGE_SCOPES:
            raise bad_request(
                f"purge works on scope {' or '.join(PURGE_SCOPES)} (got {value!r}); "
                "use action 'invalidate' for keys, urls, tile ranges and patterns"
            )
        return value

    def as_invalidation(self) -> InvalidateRequest:
        return InvalidateRequest(
            scope=self.scope,
            collection=self.collection,
            item=self.item,
            hard=True,
            dry_run=self.dry_run,
        )


class SeedRequest(AdminRequest):
    """Pre-render a bbox (default: the product's bounds) x zoom range of presets through the
    tile API. The admin Lambda does one slice per invocation: requests ``start`` to
    ``start + limit`` of the job's fixed order."""

    action = "seed"
    collection: str | None = None
    item: str | None = None
    minzoom: int | None = Zoom
    maxzoom: int | None = Zoom
    bbox: list[float] | None = BBox
    presets: list[str] | None = None  # None: the default preset, unless renders are given
    renders: list[str] = Field(default_factory=list, max_length=16)  # `/renders/{name}` names
    start: int = Field(0, ge=0)
    limit: int | None = Field(None, ge=1, le=MAX_SEED_TILES)  # None: MAX_SEED_TILES
    concurrency: int = Field(8, ge=1, le=MAX_SEED_CONCURRENCY)

    @field_validator("presets")
    @classmethod
    def _known_presets(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            try:
                get_preset(name)
            except ValueError as exc:
                raise bad_request(str(exc)) from None
        return names

    @model_validator(mode="after")
    def _job(self) -> SeedRequest:
        if not self.collection or not self.item:
            raise bad_request("seed needs 'collection' and 'item'")
        check_zoom_range(self.minzoom, self.maxzoom, "seed needs 'minzoom' and 'maxzoom'")
        check_bbox(self.bbox)
        if self.presets is None:
            self.presets = [] if self.renders else [DEFAULT_PRESET]
        if not self.presets and not self.renders:
            raise bad_request("seed needs at least one preset or render")
        return self


REQUESTS: dict[str, type[AdminRequest]] = {
    cls.action: cls
    for cls in (StatusRequest, KeysRequest, InvalidateRequest, PurgeRequest, SeedRequest)
}
KIND_NAMES = {
    "string_type": "a string",
    "int_type": "an integer",
    "bool_type": "a boolean",
    "list_type": "a list",
    "float_type": "a number",
}


def parse_event(event: Any) -> AdminRequest:
    """The request an admin event asks for, or ``BadRequest`` saying what is wrong.

    JSON types are taken as they are (``true`` is not an integer, ``"yes"`` not a boolean); a
    ``null`` is an absent field; other keys of the event (``action``, a token) are ignored.
    """
    if not isinstance(event, dict):
        raise BadRequest(f"the event must be a JSON object, got {type(event).__name__}")
    action = event.get("action")
    cls = REQUESTS.get(action) if isinstance(action, str) else None
    if cls is None:
        raise BadRequest(f"unknown action {action!r}; expected one of: {', '.join(REQUESTS)}")
    fields = {k: v for k, v in event.items() if k in cls.model_fields and v is not None}
    try:
        return cls.model_validate(fields, strict=True)
    except ValidationError as exc:
        raise BadRequest(describe(exc, cls)) from None


def parse(cls: type[AdminRequest], **fields: Any) -> AdminRequest:
    """``cls(**fields)`` from Python values (the CLI), or ``BadRequest``."""
    try:
        return cls(**fields)
    except ValidationError as exc:
        raise BadRequest(describe(exc, cls)) from None


def describe(exc: ValidationError, cls: type[AdminRequest]) -> str:
    """One readable sentence per error, naming the field as the event spells it."""
    return "; ".join(_describe_one(error, cls) for error in exc.errors(include_url=False))


def _describe_one(error: dict, cls: type[AdminRequest]) -> str:
    kind, loc, value = error["type"], error.get("loc", ()), error.get("input")
    name = str(loc[0]) if loc else ""
    if kind == BAD_REQUEST or not name:
        return error["msg"]
    if kind == "missing":
        choices = _choices(cls, name)
        return f"'{name}' is required for action '{cls.action}'" + (
            f" (one of: {', '.join(choices)})" if choices else ""
        )
    if kind == "literal_error":
        return f"unknown {name} {value!r}; expected one of {', '.join(_choices(cls, name))}"
    if kind in KIND_NAMES:
        where = f"'{name}'" + (f" item {loc[1]}" if len(loc) > 1 else "")
        return f"{where} must be {KIND_NAMES[kind]}, got {type(value).__name__}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        low, high = _bounds(cls, name)
        if low is not None and high is not None:
            return (
                f"'{name}' must be between {low} and {high} ({low} <= {name} <= {high}),"
                f" got {value!r}"
            )
    if kind in ("too_short", "too_long") and cls.model_fields[name].description:
        length = error.get("ctx", {}).get("actual_length")
        return f"'{name}' must be {cls.model_fields[name].description}, got {length} items"
    if kind == "extra_forbidden":
        return f"unknown field '{name}' for action '{cls.action}'"
    return f"'{name}': {error['msg']}"


def _choices(cls: type[AdminRequest], name: str) -> tuple[str, ...]:
    annotation = cls.model_fields[name].annotation
    return typing.get_args(annotation) if typing.get_origin(annotation) is Literal else ()


def _bounds(cls: type[AdminRequest], name: str) -> tuple[Any, Any]:
    low = high = None
    for meta in cls.model_fields[name].metadata:
        low = getattr(meta, "ge", None) if getattr(meta, "ge", None) is not None else low
        high = getattr(meta, "le", None) if getattr(meta, "le", None) is not None else high
    return low, high
