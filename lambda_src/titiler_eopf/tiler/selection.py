"""One value of a dimension chosen by ``sel``, on coordinates that need not be sorted.

The Sentinel-1 RTC cubes store acquisitions in the order they were added (their ``time`` axis is
not sorted) at nanosecond precision, while the Explorer's links name them at second precision
(``sel=time=2025-01-14T17:50:39``). A date or time therefore matches every coordinate value that
falls in it at the precision it is written with (a day, a second, ...); it must match exactly one.
A UTC offset (``Z``, ``+02:00``, as STAC datetimes have them) is taken to UTC, as CF times are.
``nearest``, ``pad``/``ffill`` and ``backfill``/``bfill`` compare values, never positions, so the
order of the axis does not matter. The value returned is the coordinate's own (full precision),
which xarray selects exactly on any unique index, sorted or not.
"""

from __future__ import annotations

import re

import numpy

from titiler_eopf.tiler.errors import ParameterError

MAX_LISTED_VALUES = 20
UTC_OFFSET = re.compile(r"(?:Z|([+-])(\d\d):?(\d\d))$")


def text(value) -> str:
    """A coordinate value as ``sel`` accepts it: dates at second precision (or the day)."""
    if isinstance(value, numpy.datetime64):
        written = numpy.datetime_as_string(value, unit="s")
        return written[:10] if written.endswith("T00:00:00") else written
    if isinstance(value, numpy.generic):
        value = value.item()
    return str(value)


def listing(values) -> str:
    texts = [text(v) for v in values[:MAX_LISTED_VALUES]]
    more = len(values) - MAX_LISTED_VALUES
    return ", ".join(texts) + (f", ... ({more} more)" if more > 0 else "")


def _datetime(value: str) -> numpy.datetime64:
    """An ISO 8601 date or time at the precision it is written with, a UTC offset taken off."""
    offset = UTC_OFFSET.search(value) if "T" in value else None
    if offset is None:
        return numpy.datetime64(value)
    local = numpy.datetime64(value[: offset.start()])
    sign, hours, minutes = offset.groups()
    if sign is None:  # Z
        return local
    shift = numpy.timedelta64(int(hours) * 60 + int(minutes), "m")
    return local - shift if sign == "+" else local + shift


def _cast(value: str, coordinate: numpy.ndarray, dim: str):
    kind = coordinate.dtype.kind
    try:
        if kind == "M":
            return _datetime(value)
        if kind in "iuf":
            return coordinate.dtype.type(value)
    except ValueError as exc:
        raise ParameterError(
            f"sel {dim}={value}: not a valid {coordinate.dtype} value "
            f"(values: {listing(coordinate)})"
        ) from exc
    return value


def _exact(dim: str, value: str, cast, coordinate: numpy.ndarray) -> int:
    if coordinate.dtype.kind == "M":
        unit = numpy.datetime_data(cast.dtype)[0]  # the precision the value is written with
        hits = numpy.flatnonzero(coordinate.astype(f"datetime64[{unit}]") == cast)
    else:
        hits = numpy.flatnonzero(coordinate == cast)
    if len(hits) > 1:
        full = ", ".join(str(coordinate[i]) for i in hits[:MAX_LISTED_VALUES])
        raise ParameterError(
            f"sel {dim}={value} matches {len(hits)} values ({full}): write it more precisely"
        )
    if not len(hits):
        raise ParameterError(
            f"sel {dim}={value}: no such value; '{dim}' has {listing(coordinate)} "
            f"(or use sel={dim}=nearest::{value})"
        )
    return int(hits[0])


def _by_method(dim: str, value: str, cast, method: str, coordinate: numpy.ndarray) -> int:
    if coordinate.dtype.kind == "M":  # compared in the coordinate's own unit
        cast = cast.astype(coordinate.dtype)
    distance = coordinate - cast
    if coordinate.dtype.kind == "M":
        distance = distance.astype("int64")
    distance = distance.astype("float64")
    if method in ("pad", "ffill"):
        distance = numpy.where(distance <= 0, -distance, numpy.inf)
    elif method in ("backfill", "bfill"):
        distance = numpy.where(distance >= 0, distance, numpy.inf)
    else:
        distance = numpy.abs(distance)
    if not numpy.isfinite(distance).any():
        side = "before" if method in ("pad", "ffill") else "after"
        raise ParameterError(
            f"sel {dim}={method}::{value}: no value of '{dim}' at or {side} it "
            f"('{dim}' has {listing(coordinate)})"
        )
    return int(numpy.argmin(distance))


def choose(dim: str, value: str, method: str | None, coordinate: numpy.ndarray):
    """The coordinate value ``sel`` names (checked now, so that a miss is a clear 400)."""
    coordinate = numpy.asarray(coordinate)
    cast = _cast(value, coordinate, dim)
    if coordinate.dtype.kind not in "Miuf":
        if cast not in coordinate:
            raise ParameterError(
                f"sel {dim}={value}: no such value; '{dim}' has {listing(coordinate)}"
            )
        return cast
    index = (
        _exact(dim, value, cast, coordinate)
        if method is None
        else _by_method(dim, value, cast, method, coordinate)
    )
    return coordinate[index]
