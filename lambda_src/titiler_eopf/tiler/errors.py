"""Errors of the tiler and the HTTP status each maps to."""

from __future__ import annotations

from starlette import status


class EOPFError(Exception):
    """Base class: the message is shown to the client as ``detail``."""


class ItemNotFoundError(EOPFError):
    """Unknown collection or item."""


class VariableError(EOPFError):
    """Missing, malformed or unknown ``variables``."""


class ParameterError(EOPFError):
    """A parameter combination the data cannot satisfy (e.g. bidx out of range)."""


class StoreError(EOPFError):
    """The store could not be read (network, permissions, corrupt metadata)."""


class StoreTimeoutError(StoreError):
    """The store did not answer in time."""


STATUS_CODES: dict[type[Exception], int] = {
    ItemNotFoundError: status.HTTP_404_NOT_FOUND,
    VariableError: status.HTTP_400_BAD_REQUEST,
    ParameterError: status.HTTP_400_BAD_REQUEST,
    StoreError: status.HTTP_502_BAD_GATEWAY,
    StoreTimeoutError: status.HTTP_504_GATEWAY_TIMEOUT,
}
