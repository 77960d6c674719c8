"""Named renderings of Sentinel-2 reflectance: one definition for the map viewer and the seeder.

The viewer requests and ``cache seed`` pre-renders the very same tile URLs
(``tile_url``), so a seeded entry is exactly the one a user's map hits. Pure data:
importing this module costs nothing (the admin Lambda uses it without the tiler).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlencode

REFLECTANCE = "/measurements/reflectance"
TMS = "WebMercatorQuad"
TILE_FORMAT = "png"


@dataclass(frozen=True)
class Preset:
    name: str
    title: str
    params: tuple[tuple[str, str], ...]  # query parameters, repeated ``variables`` in band order

    def query(self) -> str:
        return urlencode(self.params, quote_via=quote)


def _bands(*names: str) -> tuple[tuple[str, str], ...]:
    return tuple(("variables", f"{REFLECTANCE}:{name}") for name in names)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "true-colour",
            "True colour (B04, B03, B02)",
            _bands("b04", "b03", "b02")
            + (
                ("rescale", "0,1"),
                ("color_formula", "gamma rgb 1.3, sigmoidal rgb 6 0.1, saturation 1.2"),
            ),
        ),
        Preset(
            "false-colour",
            "False colour infrared (B08, B04, B03)",
            _bands("b08", "b04", "b03")
            + (("rescale", "0,1"), ("color_formula", "gamma rgb 1.3, sigmoidal rgb 6 0.1")),
        ),
        Preset(
            "ndvi",
            "NDVI (B08 - B04) / (B08 + B04)",
            _bands("b08", "b04")
            + (("expression", "(b1-b2)/(b1+b2)"), ("rescale", "-1,1"), ("colormap_name", "rdylgn")),
        ),
    )
}
DEFAULT_PRESET = "true-colour"


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown preset {name!r}; expected one of: {', '.join(PRESETS)}"
        ) from None


def tile_path(collection: str, item: str, z: int, x: int, y: int) -> str:
    """The tile route the viewer and the seeder use (256 px PNG, WebMercatorQuad)."""
    return f"/collections/{collection}/items/{item}/tiles/{TMS}/{z}/{x}/{y}.{TILE_FORMAT}"


def tile_url(
    base_url: str, collection: str, item: str, preset: Preset, z: int, x: int, y: int
) -> str:
    return f"{base_url.rstrip('/')}{tile_path(collection, item, z, x, y)}?{preset.query()}"


def tilejson_url(base_url: str, collection: str, item: str, preset: Preset) -> str:
    item_url = f"{base_url.rstrip('/')}/collections/{collection}/items/{item}"
    return f"{item_url}/{TMS}/tilejson.json?{preset.query()}"
