"""The tile Lambda handler with HTTP API v2 events."""

from __future__ import annotations

import base64
import gzip
import json
import os
import subprocess
import sys

from fastapi.testclient import TestClient

from tests.support.events import ITEM, RGB_QUERY, FakeContext, http_api_event
from titiler_eopf.tiler.app import create_tiler_app
from titiler_eopf.tiler.settings import TilerSettings

TILE_PATH = f"/collections/sentinel-2-l2a/items/{ITEM}/tiles/WebMercatorQuad/12/2178/1514.png"
INFO_PATH = f"/collections/sentinel-2-l2a/items/{ITEM}/info"
PNG = b"\x89PNG\r\n\x1a\n"


def invoke(event):
    from titiler_eopf.handlers import tile

    return tile.handler(event, FakeContext())


def body_bytes(response) -> bytes:
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def test_png_is_base64_and_equals_the_local_server(handler_env, sample_store):
    response = invoke(http_api_event(TILE_PATH, RGB_QUERY))
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert response["headers"]["content-type"] == "image/png"
    png = body_bytes(response)
    assert png.startswith(PNG)

    local = TestClient(create_tiler_app(TilerSettings(store_url=str(sample_store))))
    assert png == local.get(TILE_PATH, params=RGB_QUERY).content

    again = invoke(http_api_event(TILE_PATH, RGB_QUERY))
    assert response["headers"]["x-cache"] == "MISS"
    assert again["headers"]["x-cache"] == "HIT"
    assert body_bytes(again) == png


def test_repeated_variables_keep_their_order(handler_env):
    forward = body_bytes(invoke(http_api_event(TILE_PATH, RGB_QUERY)))
    reordered = [RGB_QUERY[2], RGB_QUERY[1], RGB_QUERY[0], RGB_QUERY[3]]
    backward = invoke(http_api_event(TILE_PATH, reordered))
    assert backward["headers"]["x-cache"] == "MISS"  # another key, not the RGB tile
    assert body_bytes(backward) != forward


def test_json_is_text(handler_env):
    response = invoke(
        http_api_event(INFO_PATH, headers={"accept-encoding": "identity"}, cookies=["session=abc"])
    )
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is False
    assert "/measurements/reflectance:b04" in json.loads(response["body"])["variables"]


def test_gzip_json_only_for_clients_that_ask(handler_env):
    gzipped = invoke(http_api_event(INFO_PATH, headers={"accept-encoding": "gzip"}))
    plain = invoke(http_api_event(INFO_PATH, headers={"accept-encoding": "identity"}))
    assert gzipped["headers"].get("content-encoding") == "gzip"
    assert gzipped["isBase64Encoded"] is True
    assert "content-encoding" not in plain["headers"]
    assert plain["headers"]["x-cache"] == "HIT"  # the cached copy is identity bytes
    assert json.loads(gzip.decompress(body_bytes(gzipped))) == json.loads(plain["body"])


def test_not_modified_has_no_body(handler_env):
    first = invoke(http_api_event(TILE_PATH, RGB_QUERY))
    etag = first["headers"]["etag"]
    response = invoke(http_api_event(TILE_PATH, RGB_QUERY, headers={"if-none-match": etag}))
    assert response["statusCode"] == 304
    assert not response.get("body")


def test_errors_are_json_text(handler_env):
    response = invoke(
        http_api_event(
            "/collections/sentinel-2-l2a/items/S2A_NOPE/info",
            headers={"accept-encoding": "identity"},
        )
    )
    assert response["statusCode"] == 404
    assert response["isBase64Encoded"] is False
    assert "S2A_NOPE" in json.loads(response["body"])["detail"]


def test_named_stage_is_routed_and_kept_in_urls(handler_env):
    event = http_api_event(
        f"/collections/sentinel-2-l2a/items/{ITEM}/WebMercatorQuad/tilejson.json",
        RGB_QUERY,
        headers={"accept-encoding": "identity"},
        stage="prod",
    )
    response = invoke(event)
    assert response["statusCode"] == 200, response.get("body")
    tiles = json.loads(response["body"])["tiles"][0]
    assert "/prod/collections/sentinel-2-l2a/items/" in tiles

    tile = invoke(http_api_event(TILE_PATH, RGB_QUERY, stage="prod"))
    assert tile["statusCode"] == 200
    assert body_bytes(tile).startswith(PNG)


FRESH_PROCESS = r"""
import json, sys
from tests.support.events import http_api_event, FakeContext, RGB_QUERY
from titiler_eopf.handlers import tile
response = tile.handler(http_api_event(sys.argv[2], RGB_QUERY), FakeContext())
heavy = [m for m in ("rasterio", "xarray", "zarr", "titiler", "rio_tiler", "numpy")
         if m in sys.modules]
print(json.dumps({"status": response["statusCode"], "x_cache": response["headers"].get("x-cache"),
                  "heavy": heavy}))
"""


def test_cache_hit_in_a_fresh_process_does_not_import_the_tiler(handler_env):
    assert invoke(http_api_event(TILE_PATH, RGB_QUERY))["statusCode"] == 200  # warm the cache
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    result = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, root, TILE_PATH],
        capture_output=True,
        text=True,
        env={**os.environ, **handler_env, "PYTHONPATH": f"{root}/lambda_src:{root}"},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    outcome = json.loads(result.stdout.strip().splitlines()[-1])
    assert outcome == {"status": 200, "x_cache": "HIT", "heavy": []}


def test_logs_are_json_and_metrics_are_emf(handler_env, capsys, caplog):
    from titiler_eopf.handlers import observability

    caplog.set_level("INFO")
    invoke(http_api_event(TILE_PATH, RGB_QUERY))
    invoke(http_api_event(TILE_PATH, RGB_QUERY))
    # The log handler keeps the stdout of the process (Lambda's never changes;
    # pytest swaps it per test), so format the captured records with its formatter.
    formatter = observability.logger().registered_formatter
    requests = [
        json.loads(formatter.format(record))
        for record in caplog.records
        if record.getMessage() == "request"
    ]
    lines = [
        json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")
    ]
    assert [r["x_cache"] for r in requests] == ["MISS", "HIT"]
    assert all(r["service"] == "titiler-eopf" and r["status"] == 200 for r in requests)
    emf = [line for line in lines if "_aws" in line]
    assert len(emf) == 2
    names = [
        {m["Name"] for m in record["_aws"]["CloudWatchMetrics"][0]["Metrics"]} for record in emf
    ]
    assert {"CacheMisses", "RenderTime"} <= names[0]
    # the MISS read chunks: fetched (earlier tests of this process may have left them decoded)
    assert names[0] & {"ChunkCacheMisses", "ChunkCacheHits"}
    assert not names[1] & {"ChunkCacheMisses", "ChunkCacheHits"}  # a HIT reads nothing
    assert {"CacheHits", "CacheBytesServed", "RenderTimeSaved"} <= names[1]
    assert emf[1]["CacheHits"] in (1, 1.0, [1.0])
    assert emf[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "TiTilerEOPFTest"
