"""TiTiler-EOPF's layer semantics (the EOPF Explorer's links), on the reader's stacked bands.

:class:`~titiler_eopf.tiler.reader.EOPFReader` stacks the requested variables into one image
(b1..bN in ``variables`` order, a multi-band variable giving one band per band) and applies
``indexes``/``expression`` to that stack. The Explorer's links speak TiTiler-EOPF, where:

- ``bidx`` selects band(s) of *each* variable: ``variables=a&variables=b&variables=c&bidx=1`` is
  the first band of a, b and c, an RGB image (on the stack it would be a alone);
- ``expression`` names variables as ``{group}:{variable}`` (``;`` between output bands) and
  needs no ``variables``: ``(/measurements/reflectance:b08-/measurements/reflectance:b04)/(...)``.

:class:`LayerReader` translates both into stack positions before the reader applies them;
``b1..bN`` in an expression keep naming the stack's bands, so both forms mix. The variables an
expression names are added to the request's ``variables`` by the reader dependency
(:func:`expression_variables`), in the order they first appear, after those given.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import attr

from titiler_eopf.paths import VARIABLE_TOKEN
from titiler_eopf.tiler.errors import ParameterError
from titiler_eopf.tiler.reader import EOPFReader
from titiler_eopf.tiler.stac import StacItemLocation


def stack_indexes(bands: Sequence, indexes: Sequence[int]) -> list[int]:
    """Stack positions (1-based) of ``indexes`` taken in each variable's bands."""
    positions, offset = [], 0
    for band in bands:
        bad = [i for i in indexes if not 1 <= i <= band.count]
        if bad:
            raise ParameterError(
                f"Invalid bidx {bad}: bidx selects band(s) of each variable (as TiTiler-EOPF "
                f"does), and '{band.label}' has {band.count} band(s); to pick one band of the "
                "stacked image, use expression=b{n}"
            )
        positions += [offset + i for i in indexes]
        offset += band.count
    return positions


def stack_expression(bands: Sequence, expression: str, indexes: Sequence[int] | None) -> str:
    """``expression`` with each ``{group}:{variable}`` replaced by its band in the stack (the
    band ``bidx`` selects in it, the first by default)."""
    index = 1
    if indexes:
        if len(indexes) != 1:
            raise ParameterError(
                f"Invalid bidx {list(indexes)} with an expression: the expression's variables "
                "are single bands, so bidx may select one band of each"
            )
        index = indexes[0]
    offsets, offset = {}, 0
    for band in bands:
        offsets.setdefault(band.label, (offset, band))
        offset += band.count

    def position(match: re.Match) -> str:
        if match.group(1) not in offsets:
            raise ParameterError(f"The expression names '{match.group(1)}', not a variable read")
        start, band = offsets[match.group(1)]
        if not 1 <= index <= band.count:
            raise ParameterError(f"Invalid bidx {index}: '{band.label}' has {band.count} band(s)")
        if band.count > 1 and not indexes:
            raise ParameterError(
                f"The expression names '{band.label}', which has {band.count} bands: choose one "
                f"with bidx, or name the bands of the stack (b1..b{offset})"
            )
        return f"b{start + index}"

    return VARIABLE_TOKEN.sub(position, expression)


@attr.s
class LayerReader(EOPFReader):
    """The item reader with TiTiler-EOPF's ``bidx`` and ``expression`` (see the module), and
    the ``sel`` of a STAC item located in a shared cube when the request gives none."""

    def __attrs_post_init__(self):
        if not self.sel and isinstance(self.input.location, StacItemLocation):
            self.sel = list(self.input.location.sel) or None
        super().__attrs_post_init__()

    def layer(self, indexes, expression) -> tuple[list[int] | None, str | None]:
        """``(indexes, expression)`` as stack positions, for the reader."""
        if isinstance(indexes, int):
            indexes = [indexes]
        if expression:
            return None, stack_expression(self.bands, expression, indexes)
        if indexes:
            return stack_indexes(self.bands, indexes), None
        return None, None

    def tile(self, tile_x, tile_y, tile_z, tilesize=None, indexes=None, expression=None, **kw):
        indexes, expression = self.layer(indexes, expression)
        return super().tile(
            tile_x, tile_y, tile_z, tilesize, indexes=indexes, expression=expression, **kw
        )

    # preview, feature and statistics read through part()
    def part(self, bbox, *args, indexes=None, expression=None, **kw):
        indexes, expression = self.layer(indexes, expression)
        return super().part(bbox, *args, indexes=indexes, expression=expression, **kw)

    def point(self, lon, lat, *args, indexes=None, expression=None, **kw):
        indexes, expression = self.layer(indexes, expression)
        return super().point(lon, lat, *args, indexes=indexes, expression=expression, **kw)
