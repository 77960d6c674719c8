"""Named renderings: one definition for the map viewer, the ``/renders`` route and the seeder.

Presets of Sentinel-2 reflectance and of Sentinel-1 GRD RTC cubes (per orbit group), and
STAC ``renders`` (the render extension, as the EOPF Explorer's items carry them) turned into
the same form by :func:`preset_from_render`.

The viewer requests and ``cache seed`` pre-renders the very same tile URLs
(``tile_url``), so a seeded entry is exactly the one a user's map hits. Pure data:
importing this module costs nothing (the admin Lambda uses it without the tiler).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from titiler_eopf.paths import expression_variables

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

    def variables(self) -> list[str]:
        """The variables it reads: its ``variables`` and those its expression names."""
        given = [value for key, value in self.params if key == "variables"]
        named = [
            v
            for key, value in self.params
            if key == "expression"
            for v in expression_variables(value)
        ]
        return list(dict.fromkeys(given + named))


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
    + tuple(
        preset
        for orbit in ("descending", "ascending")
        for preset in (
            Preset(
                f"vv-{orbit}",
                f"VV gamma0 ({orbit} orbits)",
                (("variables", f"/{orbit}:vv"), ("rescale", "0.0,0.2")),
            ),
            Preset(
                f"vh-{orbit}",
                f"VH gamma0 ({orbit} orbits)",
                (("variables", f"/{orbit}:vh"), ("rescale", "0.0,0.05")),
            ),
            # the composite the EOPF Explorer renders
            Preset(
                f"vv-vh-{orbit}",
                f"VV, VH, VV/VH composite ({orbit} orbits)",
                (
                    ("expression", f"/{orbit}:vv;/{orbit}:vh;(/{orbit}:vv)/(/{orbit}:vh)"),
                    ("rescale", "0.0,0.2"),
                ),
            ),
        )
    )
}
DEFAULT_PRESET = "true-colour"

# STAC render fields that are tile parameters, in the order their query lists them.
RENDER_FIELDS = (
    "variables",
    "expression",
    "sel",
    "bidx",
    "rescale",
    "color_formula",
    "colormap_name",
    "colormap",
    "nodata",
    "resampling",
    "tilesize",
)


def _values(field: str, value) -> list[str]:
    if value is None:
        return []
    if field == "colormap":
        return [value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))]
    if field == "rescale":  # [[min, max], ...] (one range per band, or one for all)
        pairs = value if value and isinstance(value[0], (list, tuple)) else [value]
        return [",".join(str(v) for v in pair) for pair in pairs]
    if isinstance(value, (list, tuple)):
        return [str(v) for v in value]
    return [str(value)]


def preset_from_render(name: str, render: dict) -> Preset:
    """A STAC render (``expression``, ``rescale``, ``bidx``, ``sel``, ``tilesize``, ...) as a
    preset; fields that are no tile parameter (``assets``, ``minmax_zoom``) are left out."""
    params = tuple(
        (field, text) for field in RENDER_FIELDS for text in _values(field, render.get(field))
    )
    return Preset(name, str(render.get("title") or name), params)


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
