"""A rio-tiler mosaic backend whose assets are the items a STAC API search returns.

For a tile, the backend asks the search (block-cached, see :mod:`titiler_eopf.tiler.stac`) for
the items over it, opens each item's product through the catalog and reads it with the item
reader (so under the same read budget); rio-tiler's ``mosaic_reader`` merges the pixels with its
pixel-selection methods. An item's product is its STAC Zarr asset when that lies under the store
root (hrefs elsewhere are not followed: the server reads only its own store), else
``{store}/{collection}/{item}.zarr``.
"""

from __future__ import annotations

import logging
from typing import Any

import attr
from morecantile import Tile
from rio_tiler.constants import WGS84_CRS
from rio_tiler.errors import EmptyMosaicError, NoAssetFoundError, TileOutsideBounds
from rio_tiler.io import BaseReader
from rio_tiler.models import ImageData, PointData
from rio_tiler.mosaic.backend import BaseBackend

from titiler_eopf.paths import MAX_ZOOM
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.errors import ItemNotFoundError, StoreError
from titiler_eopf.tiler.layers import LayerReader
from titiler_eopf.tiler.stac import SearchParams, StacClient, item_location, render_selection

logger = logging.getLogger(__name__)

MOSAIC_THREADS = 4  # items read side by side for one tile
POINT_EPSILON = 1e-7  # degrees: the search box of a point


@attr.s
class StacMosaicBackend(BaseBackend):
    """The mosaic of a collection (``input``: its id) for one search (``search``)."""

    catalog: Catalog = attr.ib(kw_only=True)
    stac: StacClient = attr.ib(kw_only=True)
    search: SearchParams = attr.ib(kw_only=True)
    # each asset (a STAC item) is read by the item reader, on its product
    reader: Any = attr.ib(init=False)
    searched: int = attr.ib(init=False, default=0)  # items the last tile search returned

    def __attrs_post_init__(self):
        self.reader = self.item_reader
        self.bounds = (-180.0, -90.0, 180.0, 90.0)
        self.crs = WGS84_CRS
        self.minzoom, self.maxzoom = 0, MAX_ZOOM

    @property
    def settings(self):
        return self.catalog.settings

    def open_item(self, item: dict):
        """The product of a STAC item (502 when the API lists a product the store lacks)."""
        renders = (item.get("properties") or {}).get("renders") or {}
        location = item_location(self.settings, self.input, item, render_selection(renders))
        try:
            return self.catalog.open(self.input, item["id"], location)
        except ItemNotFoundError as exc:
            raise StoreError(
                f"STAC item {self.input}/{item['id']} has no product in the store: {exc}"
            ) from exc

    def item_reader(self, item: dict, tms=None, **options: Any) -> BaseReader:
        return LayerReader(self.open_item(item), tms=tms or self.tms, **options)

    def asset_name(self, asset: dict) -> str:
        return asset["id"]

    def assets_for_tile(self, x: int, y: int, z: int, **kwargs: Any) -> list[dict]:
        items = self.stac.items_for_tile(
            self.input, self.tms, Tile(x, y, z), self.search, self.settings.mosaic_search_zoom_up
        )
        self.searched = len(items)
        return items

    def assets_for_point(self, lon: float, lat: float, **kwargs: Any) -> list[dict]:
        box = (lon - POINT_EPSILON, lat - POINT_EPSILON, lon + POINT_EPSILON, lat + POINT_EPSILON)
        return self.stac.search(self.input, box, self.search, self.search.max_items).items

    def assets_for_bbox(self, xmin, ymin, xmax, ymax, **kwargs: Any) -> list[dict]:
        box = (xmin, ymin, xmax, ymax)
        return self.stac.search(self.input, box, self.search, self.search.max_items).items

    def tile(self, x: int, y: int, z: int, **kwargs: Any) -> tuple[ImageData, list[str]]:
        """The items' pixels merged (404 with ``X-Tile-Empty`` when none has data there)."""
        try:
            return super().tile(x, y, z, threads=MOSAIC_THREADS, **kwargs)
        except NoAssetFoundError as exc:
            raise TileOutsideBounds(
                f"No item of '{self.input}' matches tile {z}/{x}/{y} with this search"
            ) from exc
        except EmptyMosaicError as exc:
            raise TileOutsideBounds(
                f"No item of '{self.input}' has data in tile {z}/{x}/{y}"
            ) from exc

    def point(self, lon: float, lat: float, **kwargs: Any) -> list[tuple[str, PointData]]:
        """Values of every item with data at the point, in the search order."""
        try:
            return super().point(lon, lat, threads=1, **kwargs)
        except NoAssetFoundError:
            return []
