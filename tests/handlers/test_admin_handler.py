"""The admin Lambda: every action, and every bad event (which deletes nothing)."""

from __future__ import annotations

import pytest

from tests.support.events import ITEM, RGB_QUERY, FakeContext, http_api_event

TILE = f"/collections/sentinel-2-l2a/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"
TILE_2 = f"/collections/sentinel-2-l2a/items/{ITEM}/tiles/WebMercatorQuad/13/4356/3029.png"
GEOZARR_TILE = TILE.replace("sentinel-2-l2a/", "sentinel-2-l2a-geozarr/")


def admin(event):
    from titiler_eopf.handlers import admin as admin_handler

    return admin_handler.handler(event, FakeContext())


def tile(path):
    from titiler_eopf.handlers import tile as tile_handler

    return tile_handler.handler(http_api_event(path, RGB_QUERY), FakeContext())


@pytest.fixture
def warm(handler_env):
    for path in (TILE, TILE_2, GEOZARR_TILE):
        assert tile(path)["statusCode"] == 200
    assert all(tile(p)["headers"]["x-cache"] == "HIT" for p in (TILE, TILE_2, GEOZARR_TILE))


def key_count():
    reply = admin({"action": "keys", "pattern": "*", "limit": 1000})
    assert reply["ok"], reply
    return len(reply["keys"])


def test_status(warm):
    reply = admin({"action": "status"})
    assert reply["ok"] is True
    assert reply["status"]["backend"] == "redis"
    assert "password" not in str(reply).lower() or "redis_password" not in str(reply)


def test_keys_lists_cached_entries(warm):
    reply = admin({"action": "keys", "pattern": "*", "limit": 10})
    assert reply["ok"] is True
    assert len(reply["keys"]) == 3
    assert all(k["key"].startswith("tile/handler-test/") for k in reply["keys"])


def test_invalidate_item_makes_the_next_request_a_miss(warm):
    reply = admin(
        {"action": "invalidate", "scope": "item", "collection": "sentinel-2-l2a", "item": ITEM}
    )
    assert reply["ok"] is True, reply
    assert reply["result"]["generation"]["item"] == ITEM
    assert tile(TILE)["headers"]["x-cache"] == "MISS"
    assert tile(GEOZARR_TILE)["headers"]["x-cache"] == "HIT"  # other collection untouched


def test_dry_run_reports_and_deletes_nothing(warm):
    reply = admin(
        {"action": "purge", "scope": "collection", "collection": "sentinel-2-l2a", "dry_run": True}
    )
    assert reply["ok"] is True, reply
    assert reply["result"]["matched"] == 2
    assert reply["result"]["deleted_total"] == 0
    assert key_count() == 3
    assert tile(TILE)["headers"]["x-cache"] == "HIT"


def test_purge_deletes_the_scope_and_counts_it(warm):
    reply = admin({"action": "purge", "scope": "collection", "collection": "sentinel-2-l2a"})
    assert reply["ok"] is True, reply
    assert reply["result"]["deleted_total"] >= 2
    assert key_count() == 1
    assert tile(TILE)["headers"]["x-cache"] == "MISS"


def test_invalidate_by_url_and_key(warm):
    url = TILE + "?" + "&".join(f"{k}={v}" for k, v in RGB_QUERY)
    reply = admin({"action": "invalidate", "scope": "url", "url": url})
    assert reply["ok"] is True, reply
    assert reply["result"]["deleted_total"] == 1
    assert tile(TILE)["headers"]["x-cache"] == "MISS"
    listed = admin({"action": "keys", "pattern": "*"})["keys"]
    key = next(k["key"] for k in listed if "/sentinel-2-l2a-geozarr/" in k["key"])
    reply = admin({"action": "invalidate", "scope": "key", "key": key})
    assert reply["ok"] and reply["result"]["deleted_total"] == 1


def test_invalidate_tile_range(warm):
    # z12 only: TILE goes, TILE_2 (z13) stays
    reply = admin(
        {
            "action": "invalidate",
            "scope": "tiles",
            "collection": "sentinel-2-l2a",
            "item": ITEM,
            "minzoom": 12,
            "maxzoom": 12,
            "bbox": [-180, -85, 180, 85],
        }
    )
    assert reply["ok"] is True, reply
    assert reply["result"]["deleted_total"] == 1
    assert tile(TILE)["headers"]["x-cache"] == "MISS"
    assert tile(TILE_2)["headers"]["x-cache"] == "HIT"


def test_pattern_needs_confirm_to_match_everything(warm):
    refused = admin({"action": "invalidate", "scope": "pattern", "pattern": "*"})
    assert refused["ok"] is False
    assert refused["error"]["type"] == "BadRequest"
    assert "confirm" in refused["error"]["message"]
    assert key_count() == 3
    reply = admin({"action": "invalidate", "scope": "pattern", "pattern": "*", "confirm": True})
    assert reply["ok"] is True and reply["result"]["deleted_total"] == 3
    assert key_count() == 0


@pytest.mark.parametrize(
    "event,fragment",
    [
        ({"action": "explode"}, "unknown action"),
        ({}, "unknown action"),
        (["status"], "JSON object"),
        ("status", "JSON object"),
        ({"action": "invalidate"}, "'scope' is required"),
        ({"action": "invalidate", "scope": "galaxy"}, "unknown scope"),
        ({"action": "invalidate", "scope": "item", "collection": "sentinel-2-l2a"}, "item"),
        (
            {"action": "invalidate", "scope": "item", "collection": 5, "item": ITEM},
            "'collection' must be a string",
        ),
        (
            {"action": "invalidate", "scope": "collection", "collection": "x", "dry_run": "yes"},
            "'dry_run' must be a boolean",
        ),
        ({"action": "keys", "limit": True}, "'limit' must be an integer"),
        ({"action": "keys", "limit": 100000}, "between 1 and"),
        ({"action": "purge", "scope": "pattern", "pattern": "*"}, "purge works on scope"),
        (
            {
                "action": "invalidate",
                "scope": "tiles",
                "collection": "sentinel-2-l2a",
                "item": ITEM,
                "minzoom": 3,
                "maxzoom": 40,
                "bbox": [0, 0, 1, 1],
            },
            "zoom",
        ),
        (
            {
                "action": "invalidate",
                "scope": "tiles",
                "collection": "sentinel-2-l2a",
                "item": ITEM,
                "minzoom": 3,
                "maxzoom": 4,
                "bbox": [0, 0, 1],
            },
            "bbox",
        ),
        ({"action": "invalidate", "scope": "key", "key": "not-a-key"}, "key"),
    ],
)
def test_bad_events_are_clear_errors_and_delete_nothing(warm, event, fragment):
    reply = admin(event)
    assert reply["ok"] is False
    assert set(reply["error"]) == {"type", "message"}
    assert fragment in reply["error"]["message"], reply
    assert "Traceback" not in reply["error"]["message"]
    assert key_count() == 3
