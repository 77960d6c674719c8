"""Errors of the tiler, the HTTP status each maps to, and which class a failure belongs to.

The classes keep the alarms honest: 502/504 only when the store fails (I/O, HTTP, timeouts),
a 4xx for what the request asked (the client can change it), a 500 for a bug of ours (logged
with the item and the variables). Messages go to the client: they name the item and the
problem, never the store's internal paths or URLs (those go to the log).
"""

from __future__ import annotations

from starlette import status


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


STATUS_CODES: dict[type[Exception], int] = {
    ItemNotFoundError: status.HTTP_404_NOT_FOUND,
    VariableError: status.HTTP_400_BAD_REQUEST,
    ParameterError: status.HTTP_400_BAD_REQUEST,
    LimitError: status.HTTP_422_UNPROCESSABLE_CONTENT,
    NoDataError: status.HTTP_404_NOT_FOUND,
    StoreError: status.HTTP_502_BAD_GATEWAY,
    StoreTimeoutError: status.HTTP_504_GATEWAY_TIMEOUT,
    InternalError: status.HTTP_500_INTERNAL_SERVER_ERROR,
}


def status_of(exc: BaseException) -> int:
    """HTTP status of an EOPFError (subclasses map like their nearest mapped parent)."""
    for cls in type(exc).__mro__:
        if cls in STATUS_CODES:
            return STATUS_CODES[cls]
    return status.HTTP_500_INTERNAL_SERVER_ERROR


# Where store failures come from: Python's I/O errors, and the libraries that talk to the
# store or decode its bytes (a chunk that does not decompress is what the store delivered).
STORE_MODULES = ("obstore", "pyo3_runtime", "numcodecs", "aiohttp", "httpx", "botocore", "urllib3")


def is_store_failure(exc: BaseException) -> bool:
    if isinstance(exc, (OSError, TimeoutError)):
        return True
    module = type(exc).__module__ or ""
    return module.split(".")[0] in STORE_MODULES or "blosc" in str(exc).lower()


def classify_read_error(exc: BaseException, where: str) -> EOPFError | None:
    """The class of an exception raised while reading ``where`` (an item, or item and group).

    Returns None for a store failure (the caller turns it into a StoreError, which knows the
    store), else the error to raise instead of ``exc``.
    """
    if isinstance(exc, EOPFError):
        return exc
    name = type(exc).__name__
    if name == "NoDataInBounds":  # rioxarray: the window holds no pixel of the array
        return NoDataError(f"No data of {where} in the requested area")
    if name in ("CRSError", "ProjError") or "PROJ:" in str(exc):  # the request's coordinates
        return ParameterError(f"Cannot transform the request's coordinates for {where}: {exc}")
    if isinstance(exc, OverflowError) and "nodata" in str(exc):  # rioxarray, a client's nodata
        return ParameterError(f"The nodata value does not fit the data of {where}: {exc}")
    if _is_shape_error(exc):
        return UnsupportedDataError(f"Cannot draw {where} for this request: {exc}")
    if is_store_failure(exc):
        return None
    if isinstance(exc, MemoryError):
        return InternalError(f"Out of memory while reading {where}: ask for a smaller output")
    return InternalError(f"Internal error while reading {where}: {name}")


def _is_shape_error(exc: BaseException) -> bool:
    """rioxarray's dimension errors (one-pixel windows, missing x/y) and rio-tiler's refusal of
    arrays it cannot handle (an assertion: "Can't handle >=4D DataArray")."""
    if isinstance(exc, AssertionError) and "DataArray" in str(exc):
        return True
    module = type(exc).__module__ or ""
    return module.startswith("rioxarray") and type(exc).__name__ != "NoDataInBounds"
