"""Ask every variable a product lists for /info, a tile, a point and a preview.

Used by ``test_variable_sweep.py`` and, as a script, to count what a new user would see:

    python tests/tiler/sweep.py --store DIR     # the sample products under DIR

It only talks HTTP to the app (a TestClient), so it runs against any version of the tiler.
"""

from __future__ import annotations

import argparse
import collections
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

TILE_ZOOM = 12


@dataclass
class Answer:
    variable: str
    kind: str  # info, tile, point, preview
    status: int
    detail: str = ""


@dataclass
class Sweep:
    collection: str
    item: str
    variables: list[str] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def count(self) -> dict:
        statuses = collections.Counter(a.status // 100 for a in self.answers)
        reasons = collections.Counter(
            f"{a.status} {reason_of(a.detail)}" for a in self.answers if a.status >= 400
        )
        return {
            "collection": self.collection,
            "variables": len(self.variables),
            "requests": len(self.answers),
            "2xx": statuses.get(2, 0),
            "4xx": statuses.get(4, 0),
            "5xx": statuses.get(5, 0),
            "reasons": dict(reasons.most_common()),
        }


def reason_of(detail: str) -> str:
    """A short, item-independent form of an error message, for counting."""
    text = re.sub(r"/[\w/.:-]+", "<path>", detail)
    text = re.sub(r"\d+(\.\d+)?", "N", text)
    return text[:90]


def _detail(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    detail = body.get("detail", body) if isinstance(body, dict) else body
    return detail if isinstance(detail, str) else json.dumps(detail)[:200]


def _lonlat_centre(info: dict) -> tuple[float, float] | None:
    from rasterio.crs import CRS
    from rasterio.warp import transform_bounds

    bounds, crs = info.get("bounds"), info.get("crs")
    if not bounds or not crs:
        return None
    crs = CRS.from_user_input(crs.replace("http://www.opengis.net/def/crs/EPSG/0/", "EPSG:"))
    minx, miny, maxx, maxy = transform_bounds(crs, "EPSG:4326", *bounds, densify_pts=21)
    return (minx + maxx) / 2, (miny + maxy) / 2


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 2**z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return x, y


def sweep_product(client, collection: str, item: str, extra: dict | None = None) -> Sweep:
    """Every listed variable: /info, a tile and a point at its centre, a small preview."""
    base = f"/collections/{collection}/items/{item}"
    result = Sweep(collection, item)
    listing = client.get(f"{base}/info")
    assert listing.status_code == 200, listing.text
    result.variables = list(listing.json()["variables"])
    centre_default = None
    for variable in result.variables:
        params = {"variables": variable, **((extra or {}).get(variable, {}))}

        def ask(kind, path, variable=variable, params=params, **more):
            response = client.get(f"{base}{path}", params={**params, **more})
            answer = Answer(
                variable,  # noqa: B023
                kind,
                response.status_code,
                "" if response.status_code < 400 else _detail(response),
            )
            result.answers.append(answer)
            return response

        info = ask("info", "/info")
        centre = _lonlat_centre(info.json()) if info.status_code == 200 else None
        centre = centre or centre_default or (11.5, 42.36)
        centre_default = centre_default or centre
        x, y = _tile_of(*centre, TILE_ZOOM)
        ask("tile", f"/tiles/WebMercatorQuad/{TILE_ZOOM}/{x}/{y}.png")
        ask("point", f"/point/{centre[0]},{centre[1]}")
        ask("preview", "/preview.png", max_size=128)
    return result


def sample_items(store: Path) -> list[tuple[str, str]]:
    return sorted(
        (collection.name, product.name.removesuffix(".zarr"))
        for collection in store.iterdir()
        if collection.is_dir()
        for product in collection.glob("*.zarr")
    )


def main() -> None:
    from fastapi.testclient import TestClient

    from titiler_eopf.tiler.app import create_tiler_app
    from titiler_eopf.tiler.settings import TilerSettings

    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    client = TestClient(
        create_tiler_app(TilerSettings(store_url=args.store)), raise_server_exceptions=False
    )
    for collection, item in sample_items(Path(args.store)):
        listing = client.get(f"/collections/{collection}/items/{item}/info")
        if listing.status_code != 200:
            print(
                json.dumps(
                    {
                        "collection": collection,
                        "info": listing.status_code,
                        "detail": _detail(listing),
                    }
                )
            )
            continue
        print(
            json.dumps(
                sweep_product(client, collection, item).count(), indent=None if args.json else 1
            )
        )


if __name__ == "__main__":
    main()
