"""The read budget of one request: decided from metadata, before any pixel is fetched.

A request is planned chunk by chunk (:mod:`titiler_eopf.tiler.windowed`): pixels decoded and
bytes fetched are known before reading. Over budget, the request is a 400 that names what fits
(the smallest zoom for a tile), instead of a 500 after 13 s of reading (rio-tiler's
MaxArraySizeError) or a Lambda killed for memory or time.

The defaults fit the tile Lambda (3 GB, 30 s behind the HTTP API): 500 M pixels decoded is an L1C
true-colour tile at z7 with room to spare (3 bands x 10980 x 10980 = 362 M), read chunk by chunk
so memory stays at a block of chunks; 1 GiB is the decoded size of those chunks (what is fetched
is the compressed part of it).
"""

from __future__ import annotations

from dataclasses import dataclass

from titiler_eopf.tiler.errors import LimitError, ParameterError
from titiler_eopf.tiler.limits import LimitSettings, env_name

DEFAULT_MAX_PIXELS = 500_000_000
DEFAULT_MAX_BYTES = 2**30
DEFAULT_MAX_OUTPUT_PIXELS = LimitSettings.model_fields["max_output_pixels"].default


class ReadBudgetError(ParameterError):
    """The request would read more than the budget allows (400, names what fits)."""


@dataclass(frozen=True)
class ReadLimits:
    max_pixels: int = DEFAULT_MAX_PIXELS
    max_bytes: int = DEFAULT_MAX_BYTES
    max_output_pixels: int = DEFAULT_MAX_OUTPUT_PIXELS  # all bands of the image answered

    @classmethod
    def from_settings(cls, settings) -> ReadLimits:
        return cls(
            settings.read_max_pixels,
            settings.read_max_bytes,
            getattr(settings, "max_output_pixels", DEFAULT_MAX_OUTPUT_PIXELS),
        )


@dataclass(frozen=True)
class Cost:
    pixels: int = 0
    bytes: int = 0
    chunks: int = 0

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.pixels + other.pixels, self.bytes + other.bytes, self.chunks + other.chunks
        )

    def fits(self, limits: ReadLimits) -> bool:
        return self.pixels <= limits.max_pixels and self.bytes <= limits.max_bytes


def cost_of(plans, worst_case: bool = False) -> Cost:
    """Total cost of band plans; ``worst_case``: the same windows placed anywhere."""
    total = Cost()
    for plan in plans:
        if plan is None:
            continue
        if worst_case:
            total = total + Cost(*plan.worst_case())
        else:
            total = total + Cost(plan.pixels, plan.bytes, plan.chunks)
    return total


def check(cost: Cost, limits: ReadLimits, what: str) -> None:
    """Raise ReadBudgetError (message without advice: callers add what fits) when over."""
    if cost.fits(limits):
        return
    raise ReadBudgetError(
        f"{what} would decode {cost.pixels / 1e6:,.0f} M pixels from {cost.chunks} chunks "
        f"(~{cost.bytes / 2**20:,.0f} MiB), over this server's read budget of "
        f"{limits.max_pixels / 1e6:,.0f} M pixels and {limits.max_bytes / 2**20:,.0f} MiB per "
        "request (TITILER_EOPF_READ_MAX_PIXELS, TITILER_EOPF_READ_MAX_BYTES)"
    )


def check_output(bands: int, height: int, width: int, max_output_pixels: int) -> None:
    """The image answered (bands x height x width) within TITILER_EOPF_MAX_OUTPUT_PIXELS (422)."""
    pixels = bands * height * width
    if pixels > max_output_pixels:
        raise LimitError(
            f"This request's output is {bands} band(s) x {width} x {height} = {pixels:,} pixels, "
            f"over this server's limit of {max_output_pixels:,} pixels "
            f"({env_name('max_output_pixels')}): ask for a smaller size or fewer bands"
        )
