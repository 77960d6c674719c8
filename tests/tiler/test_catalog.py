"""Opened products are reused across requests, bounded, and stay in-process."""

from __future__ import annotations

import shutil

from eopf_sample import COLLECTION_GEOZARR, COLLECTION_NATIVE, ITEM_ID
from titiler_eopf.tiler.catalog import Catalog
from titiler_eopf.tiler.settings import TilerSettings


def test_products_are_reused(sample_store):
    catalog = Catalog(TilerSettings(store_url=str(sample_store)))
    first = catalog.open(COLLECTION_NATIVE, ITEM_ID)
    assert catalog.open(COLLECTION_NATIVE, ITEM_ID) is first
    # and so are the lazily opened level datasets
    level = first.pyramid("measurements/reflectance").levels[0]
    assert first.dataset(level) is first.dataset(level)


def test_cache_is_bounded(sample_store, tmp_path):
    # three items, room for two: the least recently used one is opened again
    for n in range(3):
        shutil.copytree(
            sample_store / COLLECTION_NATIVE / f"{ITEM_ID}.zarr",
            tmp_path / COLLECTION_NATIVE / f"ITEM{n}.zarr",
        )
    catalog = Catalog(TilerSettings(store_url=str(tmp_path), dataset_cache_size=2))
    item0 = catalog.open(COLLECTION_NATIVE, "ITEM0")
    catalog.open(COLLECTION_NATIVE, "ITEM1")
    catalog.open(COLLECTION_NATIVE, "ITEM2")
    assert catalog.open(COLLECTION_NATIVE, "ITEM2") is catalog.open(COLLECTION_NATIVE, "ITEM2")
    assert catalog.open(COLLECTION_NATIVE, "ITEM0") is not item0


def test_disabled_cache_opens_every_time(sample_store):
    catalog = Catalog(TilerSettings(store_url=str(sample_store), dataset_cache_size=0))
    assert catalog.open(COLLECTION_GEOZARR, ITEM_ID) is not catalog.open(
        COLLECTION_GEOZARR, ITEM_ID
    )
