"""A sample *collection* for mosaics: three products and their STAC items.

``write_mosaic_collection(out_dir)`` writes, under ``out_dir/sentinel-2-l2a-mosaic/``:

- ``A`` (native layout) at the sample scene's place, acquired first;
- ``B`` (GeoZarr layout) 7,200 m east of A: its west half overlaps A's east half;
- ``C`` (native layout) right south of A: the two touch along A's south edge, and C's
  north-east quarter touches B's south edge;
- ``D`` (native layout) in the next UTM zone (EPSG:32633, as Sentinel-2 tiles near a zone edge
  are): its west edge overlaps B's east edge by ~1.5 km, at an angle (grid convergence).

Each product holds only ``measurements/reflectance`` (every level, every band) with one value per
product (:data:`MOSAIC_DN`: reflectance 0.1, 0.3, 0.5, 0.7 for A, B, C, D), except its
south-east block (:data:`scene.NODATA_BLOCK`), which is nodata: so a mosaic's pixel tells which
product it came from, and selection methods (first, highest, mean...) give predictable values
where products overlap. :func:`expected_items` says which products hold data at a point.

The STAC collection and items (``stac/collection.json``, ``stac/items.ndjson``) carry the
footprints, datetimes, an ``eo:cloud_cover`` (for filter tests) and the Zarr asset ``product``
whose href is the product's path.

The products are written with the sample writers, the scene's origin moved for the time of the
write (a sample generator, single-threaded).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import groups, scene, writer

COLLECTION_MOSAIC = "sentinel-2-l2a-mosaic"


@dataclass(frozen=True)
class MosaicItem:
    id: str
    layout: str  # "native" | "geozarr"
    x0: float  # west edge, EPSG:32632
    y0: float  # north edge
    datetime: str
    cloud_cover: float
    dn: int  # the DN of every valid pixel (reflectance dn * 0.0001 - 0.1)
    epsg: int = scene.EPSG  # x0/y0 and the product's grid are in this CRS

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        return (self.x0, self.y0 - scene.SIZE_M, self.x0 + scene.SIZE_M, self.y0)

    @property
    def reflectance(self) -> float:
        return scene.dn_to_reflectance(self.dn)


MOSAIC_ITEMS: tuple[MosaicItem, ...] = (
    MosaicItem(
        "S2A_MOSAIC_A_20250601", "native", scene.X0, scene.Y0, "2025-06-01T10:00:00Z", 5.0, 2000
    ),
    MosaicItem(
        "S2B_MOSAIC_B_20250611",
        "geozarr",
        scene.X0 + 7200.0,
        scene.Y0,
        "2025-06-11T10:00:00Z",
        50.0,
        4000,
    ),
    MosaicItem(
        "S2A_MOSAIC_C_20250621",
        "native",
        scene.X0,
        scene.Y0 - scene.SIZE_M,
        "2025-06-21T10:00:00Z",
        20.0,
        6000,
    ),
    MosaicItem(
        "S2B_MOSAIC_D_20250616",
        "native",
        226080.0,
        4698720.0,
        "2025-06-16T10:00:00Z",
        10.0,
        8000,
        epsg=32633,
    ),
)
MOSAIC_DN = {item.id: item.dn for item in MOSAIC_ITEMS}


def item_by_id(item_id: str) -> MosaicItem:
    return next(item for item in MOSAIC_ITEMS if item.id == item_id)


@functools.lru_cache(maxsize=16)
def _transformer(src: int, dst: int):
    from pyproj import Transformer

    return Transformer.from_crs(src, dst, always_xy=True)


def value_at(item: MosaicItem, x_utm: float, y_utm: float, epsg: int = scene.EPSG) -> float | None:
    """Reflectance of ``item`` at a point of ``epsg`` (EPSG:32632 by default; None: outside
    the product or in its nodata block)."""
    if epsg != item.epsg:
        x_utm, y_utm = _transformer(epsg, item.epsg).transform(x_utm, y_utm)
    dx, dy = x_utm - item.x0, item.y0 - y_utm
    if not (0 <= dx < scene.SIZE_M and 0 <= dy < scene.SIZE_M):
        return None
    if (int(dy // scene.BLOCK_M), int(dx // scene.BLOCK_M)) == scene.NODATA_BLOCK:
        return None
    return item.reflectance


def expected_items(x_utm: float, y_utm: float, epsg: int = scene.EPSG) -> list[MosaicItem]:
    """The products holding valid data at a point (of ``epsg``), in acquisition order."""
    items = sorted(MOSAIC_ITEMS, key=lambda item: item.datetime)
    return [item for item in items if value_at(item, x_utm, y_utm, epsg) is not None]


# -- writing -----------------------------------------------------------------------------


def _constant_dn(dn: int):
    def native_dn(level: str, band: str) -> np.ndarray:
        res, (height, width) = scene.LEVELS[level]
        cols = (np.arange(width) * res) // int(scene.BLOCK_M)
        rows = (np.arange(height) * res) // int(scene.BLOCK_M)
        nodata = (rows[:, None] == scene.NODATA_BLOCK[0]) & (cols[None, :] == scene.NODATA_BLOCK[1])
        return np.where(nodata, scene.NATIVE_FILL, dn).astype(np.uint16)

    return native_dn


@contextlib.contextmanager
def _scene_at(item: MosaicItem):
    """The scene moved to ``item``'s place with its value; no other group written."""
    saved_scene = {
        name: getattr(scene, name) for name in ("X0", "Y0", "BOUNDS", "BOUNDS_LONLAT", "EPSG")
    }
    saved = (writer.native_dn, groups.write_groups)
    scene.X0, scene.Y0, scene.BOUNDS, scene.EPSG = item.x0, item.y0, item.bounds, item.epsg
    scene.BOUNDS_LONLAT = lonlat_bounds(item)
    writer.native_dn = _constant_dn(item.dn)
    writer.groups.write_groups = lambda *args, **kwargs: []
    try:
        yield
    finally:
        for name, value in saved_scene.items():
            setattr(scene, name, value)
        writer.native_dn, writer.groups.write_groups = saved


def lonlat_bounds(item: MosaicItem) -> tuple[float, float, float, float]:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(item.epsg, 4326, always_xy=True)
    return to_lonlat.transform_bounds(*item.bounds, densify_pts=21)


def footprint(item: MosaicItem) -> list[list[float]]:
    from pyproj import Transformer

    to_lonlat = Transformer.from_crs(item.epsg, 4326, always_xy=True)
    minx, miny, maxx, maxy = item.bounds
    corners = [(minx, maxy), (maxx, maxy), (maxx, miny), (minx, miny), (minx, maxy)]
    return [list(to_lonlat.transform(x, y)) for x, y in corners]


def product_dir(out_dir: str | os.PathLike, item: MosaicItem) -> Path:
    return Path(out_dir) / COLLECTION_MOSAIC / f"{item.id}.zarr"


def stac_item(item: MosaicItem, href: str) -> dict:
    ring = footprint(item)
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    return {
        "type": "Feature",
        "stac_version": "1.0.0",
        "stac_extensions": [],
        "id": item.id,
        "collection": COLLECTION_MOSAIC,
        "geometry": {"type": "Polygon", "coordinates": [ring]},
        "bbox": [min(lons), min(lats), max(lons), max(lats)],
        "properties": {
            "datetime": item.datetime,
            "eo:cloud_cover": item.cloud_cover,
            "proj:code": f"EPSG:{item.epsg}",
            "eopf:layout": item.layout,
        },
        "assets": {
            "product": {
                "href": href,
                "type": "application/vnd+zarr",
                "roles": ["data"],
                "title": f"EOPF product ({item.layout} layout)",
            }
        },
        "links": [],
    }


def stac_collection() -> dict:
    boxes = [lonlat_bounds(item) for item in MOSAIC_ITEMS]
    return {
        "type": "Collection",
        "stac_version": "1.0.0",
        "id": COLLECTION_MOSAIC,
        "description": "Sample Sentinel-2 L2A products for mosaics (both layouts).",
        "license": "proprietary",
        "extent": {
            "spatial": {
                "bbox": [
                    [
                        min(b[0] for b in boxes),
                        min(b[1] for b in boxes),
                        max(b[2] for b in boxes),
                        max(b[3] for b in boxes),
                    ]
                ]
            },
            "temporal": {"interval": [[MOSAIC_ITEMS[0].datetime, MOSAIC_ITEMS[-1].datetime]]},
        },
        "links": [],
    }


def write_mosaic_collection(out_dir: str | os.PathLike, force: bool = False, log=print) -> Path:
    """Write the products and ``stac/`` (collection + items); returns the stac directory."""
    for item in MOSAIC_ITEMS:
        dest = product_dir(out_dir, item)
        if dest.exists() and not force:
            continue
        layout_writer = writer.write_native if item.layout == "native" else writer.write_geozarr

        def write(path: Path, layout_writer=layout_writer, item=item) -> None:
            with _scene_at(item):
                layout_writer(path)

        writer._write_atomically(dest, write, force=force)
        if log:
            log(f"wrote {dest}")
    stac_dir = Path(out_dir) / COLLECTION_MOSAIC / "stac"
    stac_dir.mkdir(parents=True, exist_ok=True)
    (stac_dir / "collection.json").write_text(json.dumps(stac_collection(), indent=1))
    lines = [
        json.dumps(stac_item(item, str(product_dir(out_dir, item).resolve())))
        for item in MOSAIC_ITEMS
    ]
    (stac_dir / "items.ndjson").write_text("\n".join(lines) + "\n")
    return stac_dir
