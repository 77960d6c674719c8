"""The tiler's error map: its error classes, the HTTP status of each, and the class of every
library exception a request can meet (one place, by type).

The classes keep the alarms honest: 502/504 only when the store fails (I/O, HTTP, timeouts,
bytes that do not decode), a 4xx for what the request asked (the client can change it), a 500
for a bug of ours (logged with the item and the variables). Messages go to the client: they name
the item and the problem, never the store's internal paths or URLs (those go to the log).

Store reads run inside :func:`reading`, the one error boundary that catches ``BaseException``:
obstore (Rust, through pyo3) raises ``PanicException`` for a bad configuration, a
``BaseException`` that ``except Exception`` misses. The HTTP side (handlers, the route class that
puts the endpoints' other failures in their class) is :mod:`titiler_eopf.tiler.http_errors`.

Light module: the libraries' exception classes are imported when an exception is classified.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from http import HTTPStatus

logger = logging.getLogger(__name__)


class EOPFError(Exception):
    """Base class: the message is shown to the client as ``detail``."""


class ItemNotFoundError(EOPFError):
    """Unknown collection or item."""


class VariableError(EOPFError):
    """Missing, malformed or unknown ``variables``."""


class UnsupportedDataError(VariableError):
    """A variable whose shape or type the tiler cannot draw for this request (400, says why)."""


class ParameterError(EOPFError):
    """A parameter combination the data cannot satisfy (e.g. bidx out of range)."""


class LimitError(ParameterError):
    """A size-like parameter over this server's limit (422, names the limit and its setting)."""


class NoDataError(EOPFError):
    """The request's area holds no pixel of the product (404, like a tile outside it)."""


class StoreError(EOPFError):
    """The store could not be read (network, permissions, corrupt bytes)."""


class StoreTimeoutError(StoreError):
    """The store did not answer in time."""


class InternalError(EOPFError):
    """A bug of the tiler (500): logged with the item and the variables."""


class NativePanic(Exception):
    """A panic of a native library (pyo3's PanicException, a BaseException), as an Exception."""


EOPF_STATUS_CODES: dict[type[Exception], int] = {
    ItemNotFoundError: HTTPStatus.NOT_FOUND,
    VariableError: HTTPStatus.BAD_REQUEST,
    ParameterError: HTTPStatus.BAD_REQUEST,
    LimitError: HTTPStatus.UNPROCESSABLE_ENTITY,
    NoDataError: HTTPStatus.NOT_FOUND,
    StoreError: HTTPStatus.BAD_GATEWAY,
    StoreTimeoutError: HTTPStatus.GATEWAY_TIMEOUT,
    InternalError: HTTPStatus.INTERNAL_SERVER_ERROR,
}

# BaseExceptions that are the interpreter's own (never a library's failure): always re-raised.
INTERPRETER_EXITS = (KeyboardInterrupt, SystemExit, GeneratorExit, asyncio.CancelledError)


@functools.cache
def status_codes() -> dict[type[Exception], int]:
    """``{exception class: status}``: titiler's map of rio-tiler's errors, with the two it
    leaves at 500 that are the request's (a point outside the product, 404; an array over
    rio-tiler's size, 400), and the tiler's own classes."""
    from rio_tiler.errors import MaxArraySizeError, PointOutsideBounds
    from titiler.core.errors import DEFAULT_STATUS_CODES

    return {
        **DEFAULT_STATUS_CODES,
        PointOutsideBounds: HTTPStatus.NOT_FOUND,
        MaxArraySizeError: HTTPStatus.BAD_REQUEST,
        **EOPF_STATUS_CODES,
    }


def status_of(exc: BaseException) -> int:
    """HTTP status of an exception of the map (subclasses map like their nearest parent)."""
    codes = status_codes()
    for cls in type(exc).__mro__:
        if cls in codes:
            return int(codes[cls])
    return int(HTTPStatus.INTERNAL_SERVER_ERROR)


# -- library exceptions, by type ---------------------------------------------------------------
@functools.cache
def _store_failures() -> tuple[type[BaseException], ...]:
    """What the store and the code that fetches from it raise: Python's I/O errors (timeouts
    included), obstore's errors and HTTP client errors."""
    import httpx2
    from obstore.exceptions import BaseError as ObstoreError

    return (OSError, ObstoreError, httpx2.HTTPError)


@functools.cache
def _coordinate_failures() -> tuple[type[BaseException], ...]:
    """Coordinates or CRSs of the request that cannot be transformed (GDAL's errors come from
    warping and transforms only: the store is read by zarr, never through GDAL)."""
    from pyproj.exceptions import CRSError, ProjError
    from rasterio._err import CPLE_BaseError
    from rasterio.errors import CRSError as RasterioCRSError
    from rasterio.errors import TransformError

    return (CRSError, ProjError, RasterioCRSError, TransformError, CPLE_BaseError)


# Codecs raise plain RuntimeErrors for bytes that do not decode (numcodecs' blosc: "error
# during blosc decompression"): those are told apart by the package that raised them.
DECODERS = ("numcodecs", "zarr.codecs")


def _raised_in(exc: BaseException, packages: tuple[str, ...]) -> bool:
    """Whether the innermost frame of ``exc``'s traceback is code of one of ``packages``."""
    frames = traceback.extract_tb(exc.__traceback__) if exc.__traceback__ else []
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return False
    module = tb.tb_frame.f_globals.get("__name__", "") or ""
    if any(module == p or module.startswith(p + ".") for p in packages):
        return True
    # Cython frames (numcodecs.blosc) carry their .pyx file name rather than a module
    filename = frames[-1].filename if frames else ""
    return any(f"/{p.replace('.', '/')}/" in filename for p in packages)


def is_store_failure(exc: BaseException) -> bool:
    """A failure of the store, of the transport, or of the bytes it delivered; or a panic of
    the native store client (obstore)."""
    return isinstance(exc, (NativePanic, *_store_failures())) or (
        isinstance(exc, RuntimeError) and _raised_in(exc, DECODERS)
    )


def classify(exc: BaseException, where: str) -> EOPFError | None:
    """The class of an exception raised while serving ``where`` (an item, or item and group).

    Returns None for a store failure (:func:`store_error` turns it into an error that knows
    the store), else the error to raise instead of ``exc``.
    """
    from rioxarray.exceptions import NoDataInBounds, RioXarrayError

    if isinstance(exc, EOPFError):
        return exc
    if isinstance(exc, NoDataInBounds):  # the window holds no pixel of the array
        return NoDataError(f"No data of {where} in the requested area")
    if isinstance(exc, _coordinate_failures()):
        return ParameterError(f"Cannot transform the request's coordinates for {where}: {exc}")
    # rioxarray's dimension errors (one-pixel windows, missing x/y) and rio-tiler's asserted
    # refusal of arrays it cannot handle ("Can't handle >=4D DataArray")
    if isinstance(exc, (RioXarrayError, AssertionError)):
        return UnsupportedDataError(f"Cannot draw {where} for this request: {exc}")
    if is_store_failure(exc):
        return None
    if isinstance(exc, MemoryError):
        return InternalError(f"Out of memory while reading {where}: ask for a smaller output")
    return InternalError(f"Internal error while reading {where}: {type(exc).__name__}")


def store_error(exc: BaseException, location, group: str | None = None) -> EOPFError:
    """The error of a store failure, naming the item (and group), not the store.

    The store's path or URL and the library's own message (which quotes them) are logged.
    """
    from obstore.exceptions import NotFoundError

    name = type(exc).__name__
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else name
    suffix = f" (group /{group})" if group else ""
    # zarr's GroupNotFoundError/ArrayNotFoundError are FileNotFoundErrors
    if isinstance(exc, (FileNotFoundError, NotFoundError)):
        logger.info("item %s not found at %s: %s", location.label, location.url, text)
        return not_found(location)
    # obstore has no timeout class: its message says "timed out" (and mentions
    # "retry_timeout" on every error, so only the phrase counts)
    if isinstance(exc, TimeoutError) or "timed out" in text.lower():
        error: StoreError = StoreTimeoutError(
            f"Timed out reading {location.label} from the product store{suffix}"
        )
    else:
        error = StoreError(f"Cannot read {location.label} from the product store ({name}){suffix}")
    logger.error("store error for %s (%s): %s: %s", location.label, location.url, name, text)
    return error


def not_found(location) -> ItemNotFoundError:
    # The store's path or URL stays in the log: clients see ids only.
    return ItemNotFoundError(
        f"Item '{location.item_id}' not found in collection '{location.collection_id}'"
    )


@contextmanager
def native_panics() -> Iterator[None]:
    """The one ``BaseException`` catch: a native library's panic (pyo3's ``PanicException``,
    which derives from BaseException and cannot be imported by name) leaves the block as a
    :class:`NativePanic`, which ``except Exception`` handlers see."""
    try:
        yield
    except Exception:
        raise
    except BaseException as exc:  # noqa: BLE001 - obstore raises pyo3 PanicExceptions
        if isinstance(exc, INTERPRETER_EXITS):
            raise
        raise NativePanic(f"{type(exc).__name__}: {exc}") from exc


@contextmanager
def reading(location, group: str | None = None) -> Iterator[None]:
    """The error boundary of store reads: what the block raises leaves it in its class.

    Store failures become a StoreError naming the item and group (502/504); an area without
    data a NoDataError (404); a shape the tiler cannot draw an UnsupportedDataError (400);
    anything else is a bug (500, logged here with the item and group, then with the variables
    by the route). rio-tiler's request errors (bad expression, out of bounds) pass unchanged.
    """
    from rio_tiler.errors import RioTilerError

    try:
        with native_panics():
            yield
    except (EOPFError, RioTilerError):
        raise
    except Exception as exc:
        where = f"{location.label} (group /{group})" if group else location.label
        error = classify(exc, where)
        if error is None:
            error = store_error(exc, location, group)
        elif isinstance(error, InternalError):
            logger.error("internal error reading %s", where, exc_info=exc)
        raise error from exc
