"""The tile matrix sets the routes serve, each one object for the process's life.

morecantile's registry deep-copies a TileMatrixSet on every ``get`` (~2 ms for
WebMercatorQuad's 25 matrices), and the copy has lost what the object caches: its rasterio
CRS (a pyproj WKT export, ~2 ms). titiler asks for it on every tile request, so a tile
whose data is already read paid ~4 ms for the two. Nothing here or in titiler/rio-tiler
changes a TileMatrixSet after it is built, so the routes share one per identifier.
"""

from __future__ import annotations

import morecantile
from morecantile import TileMatrixSet
from morecantile.defaults import TileMatrixSets


class SharedTileMatrixSets(TileMatrixSets):
    """morecantile's registry, answering the same (unmodified) object for an identifier."""

    def get(self, identifier: str) -> TileMatrixSet:
        found = self.tilematrixsets.get(identifier)
        if isinstance(found, TileMatrixSet):
            return found
        # not loaded yet (a path) or unknown: morecantile loads it into our dict, or raises
        super().get(identifier)
        return self.tilematrixsets[identifier]


def shared_tile_matrix_sets() -> SharedTileMatrixSets:
    return SharedTileMatrixSets(dict(morecantile.tms.tilematrixsets))
