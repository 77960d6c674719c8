"""Tiles, pixels and items of the sample mosaic collection, shared by the mosaic tests."""

from __future__ import annotations

import io

import numpy
from pyproj import Transformer

from eopf_sample import scene
from eopf_sample.mosaic import COLLECTION_MOSAIC, MOSAIC_ITEMS, value_at

B04 = [("variables", "/measurements/reflectance:b04")]
MOSAIC = f"/collections/{COLLECTION_MOSAIC}"
TO_UTM = Transformer.from_crs(3857, scene.EPSG, always_xy=True)
TO_MERC = Transformer.from_crs(scene.EPSG, 3857, always_xy=True)


def seam_tile(z: int = 12):
    """The tile over A's south-east corner: A, B, C, A's nodata block and B's west edge."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    x, y = TO_MERC.transform(scene.X0 + 12000, scene.Y0 - 13000)
    lon, lat = Transformer.from_crs(3857, 4326, always_xy=True).transform(x, y)
    return tms, tms.tile(lon, lat, z)


def zone_seam_tile(z: int = 13):
    """The tile over B's east edge, where D (next UTM zone) overlaps it."""
    import morecantile

    tms = morecantile.tms.get("WebMercatorQuad")
    lon, lat = Transformer.from_crs(scene.EPSG, 4326, always_xy=True).transform(
        scene.X0 + 21000, scene.Y0 - 4000
    )
    return tms, tms.tile(lon, lat, z)


def load_npy(content: bytes):
    """(data bands, valid mask) of an .npy tile (titiler appends the mask as the last band)."""
    array = numpy.load(io.BytesIO(content))
    return array[:-1], array[-1] > 0


def pixel_items(tms, tile, size: int = 256):
    """Per output pixel: the items with data over the *whole* pixel (None where the pixel
    straddles an edge of an item or of a nodata block: resampling may mix there)."""
    bounds = tms.xy_bounds(tile)
    res_x = (bounds.right - bounds.left) / size
    res_y = (bounds.top - bounds.bottom) / size
    result = {}
    for row in range(0, size, 4):
        for col in range(0, size, 4):
            cx = bounds.left + (col + 0.5) * res_x
            cy = bounds.top - (row + 0.5) * res_y
            sets = set()
            for dx, dy in ((0, 0), (-0.7, -0.7), (0.7, 0.7), (-0.7, 0.7), (0.7, -0.7)):
                ux, uy = TO_UTM.transform(cx + dx * res_x, cy + dy * res_y)
                sets.add(
                    tuple(item.id for item in MOSAIC_ITEMS if value_at(item, ux, uy) is not None)
                )
            if len(sets) == 1:
                ids = sets.pop()
                result[(row, col)] = [i for i in MOSAIC_ITEMS if i.id in ids]
    return result
