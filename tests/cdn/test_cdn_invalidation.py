"""Admin invalidations reach CloudFront (moto's server): the paths of each scope, checked on the
invalidation CloudFront recorded; coarser wildcards past the path budget; failures reported."""

from __future__ import annotations

import re

import pytest

from tests.support.events import FakeContext
from titiler_eopf.admin.actions import InvalidateRequest
from titiler_eopf.admin.cdn import CdnInvalidator, edge_paths, tile_paths
from titiler_eopf.paths import webmercator_tile_range

C, ITEM = "sentinel-2-l2a", "S2B_MSIL2A_20250804T103629_N0511_R008_T31TCH_20250804T131344"
ITEM_TILES = f"/collections/{C}/items/{ITEM}/tiles/WebMercatorQuad"
MOSAIC_TILES = f"/collections/{C}/tiles/WebMercatorQuad"
SMALL_BBOX = [11.45, 42.31, 11.46, 42.32]
TX, TY, _, _ = webmercator_tile_range(SMALL_BBOX, 12)  # the one tile of SMALL_BBOX at z12
assert webmercator_tile_range(SMALL_BBOX, 12) == (TX, TY, TX, TY)


@pytest.fixture
def admin(monkeypatch, aws_env, distribution_id):
    """The admin Lambda as the stack configures it behind a CDN (memory cache)."""
    from titiler_eopf.handlers import admin as handler

    monkeypatch.setenv("TITILER_EOPF_CDN_DISTRIBUTION_ID", distribution_id)
    monkeypatch.setattr(handler, "_service", None)  # a fresh container: settings read again

    def invoke(**event):
        return handler.handler(event, FakeContext())

    return invoke


def recorded_paths(cloudfront, distribution_id, invalidation_id) -> list[str]:
    got = cloudfront.get_invalidation(DistributionId=distribution_id, Id=invalidation_id)
    return got["Invalidation"]["InvalidationBatch"]["Paths"]["Items"]


def count(cloudfront, distribution_id) -> int:
    listed = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    return listed.get("Quantity", 0)


@pytest.mark.parametrize(
    "event, paths",
    [
        ({"scope": "item", "collection": C, "item": ITEM}, [f"/collections/{C}/items/{ITEM}/*"]),
        ({"scope": "collection", "collection": C}, [f"/collections/{C}/*"]),
        (
            {
                "scope": "url",
                "url": f"/collections/{C}/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"
                "?variables=/measurements/reflectance:b04&rescale=0,1",
            },
            [f"{ITEM_TILES}/12/2178/1514.png*"],
        ),
        (
            {"scope": "tiles", "collection": C, "item": ITEM, "minzoom": 12, "maxzoom": 12,
             "bbox": SMALL_BBOX},
            [f"{ITEM_TILES}/12/{TX}/{TY}*", f"{MOSAIC_TILES}/12/{TX}/{TY}*"],
        ),
    ],
)  # fmt: skip
def test_each_scope_invalidates_its_paths_at_the_edge(
    admin, cloudfront, distribution_id, event, paths
):
    reply = admin(action="invalidate", **event)
    assert reply["ok"] is True, reply
    cdn = reply["result"]["cdn"]
    assert cdn["distribution"] == distribution_id and cdn["paths"] == paths
    (invalidation,) = cdn["invalidations"]
    assert recorded_paths(cloudfront, distribution_id, invalidation) == paths
    if event["scope"] in ("item", "collection"):
        assert reply["result"]["generation"]["collection"] == C  # the cache was bumped too


def test_purge_reaches_the_edge_and_dry_runs_do_not(admin, cloudfront, distribution_id):
    before = count(cloudfront, distribution_id)
    dry = admin(action="invalidate", scope="item", collection=C, item=ITEM, dry_run=True)
    assert dry["result"]["cdn"] == {
        "distribution": distribution_id,
        "paths": [f"/collections/{C}/items/{ITEM}/*"],
        "dry_run": True,
    }
    assert count(cloudfront, distribution_id) == before
    purged = admin(action="purge", scope="collection", collection=C)
    (invalidation,) = purged["result"]["cdn"]["invalidations"]
    assert recorded_paths(cloudfront, distribution_id, invalidation) == [f"/collections/{C}/*"]
    assert count(cloudfront, distribution_id) == before + 1


def test_keys_and_patterns_have_no_edge_path(admin, cloudfront, distribution_id):
    before = count(cloudfront, distribution_id)
    reply = admin(action="invalidate", scope="pattern", pattern="S2B_*")
    assert reply["ok"] is True
    assert "has no CloudFront path" in reply["result"]["cdn"]["skipped"]
    assert count(cloudfront, distribution_id) == before


def test_a_cloudfront_failure_is_reported_beside_the_cache_result(monkeypatch, aws_env, cloudfront):
    from titiler_eopf.handlers import admin as handler

    monkeypatch.setenv("TITILER_EOPF_CDN_DISTRIBUTION_ID", "ENOSUCHDIST")
    monkeypatch.setattr(handler, "_service", None)
    reply = handler.handler(
        {"action": "invalidate", "scope": "item", "collection": C, "item": ITEM}, FakeContext()
    )
    assert reply["ok"] is True and reply["result"]["generation"]["item"] == ITEM
    assert "NoSuchDistribution" in reply["result"]["cdn"]["error"]
    assert reply["result"]["cdn"]["invalidations"] == []


def test_without_a_distribution_nothing_is_sent(monkeypatch, aws_env):
    from titiler_eopf.handlers import admin as handler

    monkeypatch.setattr(handler, "_service", None)
    reply = handler.handler(
        {"action": "invalidate", "scope": "item", "collection": C, "item": ITEM}, FakeContext()
    )
    assert reply["ok"] is True and reply["result"]["cdn"] is None


# --- tile ranges within CloudFront's wildcard budget -----------------------------------------
def _range(**kw):
    fields = dict(tms="WebMercatorQuad", minzoom=10, maxzoom=14, bbox=SMALL_BBOX, max_paths=15)
    return tile_paths("", C, ITEM, **(fields | kw))


def _tiles(bbox, zooms):
    return sum(
        (x1 - x0 + 1) * (y1 - y0 + 1)
        for x0, y0, x1, y1 in (webmercator_tile_range(bbox, z) for z in zooms)
    )


def test_tile_ranges_get_the_finest_paths_that_fit():
    # few tiles: one path per tile (every format, scale and query under it), item and mosaic
    one = _range(minzoom=12, maxzoom=12)
    assert one == [f"{ITEM_TILES}/12/{TX}/{TY}*", f"{MOSAIC_TILES}/12/{TX}/{TY}*"]
    # more tiles than the budget: whole columns
    product = [11.43, 42.30, 11.60, 42.42]
    zooms = range(10, 15)
    n_columns = sum(r[2] - r[0] + 1 for r in (webmercator_tile_range(product, z) for z in zooms))
    assert 2 * _tiles(product, zooms) > 2 * n_columns
    columns = _range(bbox=product, max_paths=2 * n_columns)
    assert len(columns) == 2 * n_columns
    column = re.compile(rf"({ITEM_TILES}|{MOSAIC_TILES})/1[0-4]/\d+/\*")
    assert all(column.fullmatch(p) for p in columns)
    x14, x10 = webmercator_tile_range(product, 14)[0], webmercator_tile_range(product, 10)[0]
    assert f"{ITEM_TILES}/14/{x14}/*" in columns and f"{MOSAIC_TILES}/10/{x10}/*" in columns
    # more columns than the budget: whole zoom levels
    wide = [11.0, 42.0, 12.0, 43.0]
    levels = _range(bbox=wide, max_paths=10)
    assert levels == [f"{b}/{z}/*" for b in (ITEM_TILES, MOSAIC_TILES) for z in range(10, 15)]
    # more levels than the budget: every tile of the item and of the mosaic
    assert _range(bbox=wide, minzoom=0, maxzoom=20, max_paths=15) == [
        f"{ITEM_TILES}/*",
        f"{MOSAIC_TILES}/*",
    ]
    # no bbox, or a matrix set without the lon/lat arithmetic here: zoom levels
    assert _range(bbox=None, minzoom=3, maxzoom=4) == [
        f"{ITEM_TILES}/3/*",
        f"{ITEM_TILES}/4/*",
        f"{MOSAIC_TILES}/3/*",
        f"{MOSAIC_TILES}/4/*",
    ]
    assert _range(tms="WGS1984Quad", minzoom=3, maxzoom=3) == [
        f"/collections/{C}/items/{ITEM}/tiles/WGS1984Quad/3/*",
        f"/collections/{C}/tiles/WGS1984Quad/3/*",
    ]
    # a range over a whole collection: its items have no common path below it
    assert tile_paths(
        "", C, None, tms="WebMercatorQuad", minzoom=1, maxzoom=2, bbox=None, max_paths=15
    ) == [f"/collections/{C}/*"]


def test_a_huge_range_is_counted_not_listed():
    """z0-z30 over the globe: billions of tiles, answered at once with two wildcards."""
    paths = _range(bbox=[-180, -85, 180, 85], minzoom=0, maxzoom=30, max_paths=15)
    assert paths == [f"{ITEM_TILES}/*", f"{MOSAIC_TILES}/*"]


def test_paths_follow_the_public_url_prefix_and_absolute_urls():
    request = InvalidateRequest(scope="item", collection=C, item=ITEM)
    assert edge_paths(request, "/tiles", 15) == [f"/tiles/collections/{C}/items/{ITEM}/*"]
    url = InvalidateRequest(scope="url", url=f"https://cdn.example.com/tiles/collections/{C}/info")
    assert edge_paths(url, "/tiles", 15) == [f"/tiles/collections/{C}/info*"]


def test_batches_stay_within_cloudfront_limits(monkeypatch, cloudfront, distribution_id):
    """One CreateInvalidation per MAX_PATHS_PER_BATCH paths (2 here instead of 3000)."""
    import titiler_eopf.admin.cdn as cdn

    monkeypatch.setattr(cdn, "MAX_PATHS_PER_BATCH", 2)
    request = InvalidateRequest(
        scope="tiles", collection=C, item=ITEM, minzoom=12, maxzoom=14, bbox=SMALL_BBOX
    )
    report = CdnInvalidator(distribution_id, max_paths=15).invalidate(request)
    assert len(report["paths"]) == 6 and len(report["invalidations"]) == 3
    batches = [recorded_paths(cloudfront, distribution_id, i) for i in report["invalidations"]]
    assert [len(batch) for batch in batches] == [2, 2, 2]
    assert [p for batch in batches for p in batch] == report["paths"]
