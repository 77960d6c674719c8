"""An item's named renderings: its STAC ``renders`` (over its collection's) and the presets
whose variables it has, each with the URLs of its tiles, TileJSON, map and preview.

The map viewer offers them, ``/renders`` lists them and the seeder's ``--render NAME`` requests
the very tile URLs listed (``presets.tile_url``), so a seeded entry is the one a map hits.
"""

from __future__ import annotations

from titiler_eopf.presets import PRESETS, TMS, Preset, preset_from_render
from titiler_eopf.tiler.errors import ItemNotFoundError

STAC, PRESET = "stac", "preset"


def item_renders(product, stac=None) -> dict[str, tuple[str, Preset]]:
    """``{name: (source, preset)}``: the STAC renders first, then the presets that fit."""
    renders: dict[str, tuple[str, Preset]] = {}
    if stac is not None:
        location = product.location
        for name, render in stac.renders(location.collection_id, location.item_id).items():
            if isinstance(render, dict):
                renders[name] = (STAC, preset_from_render(name, render))
    available = set(product.available_variables())
    for name, preset in PRESETS.items():
        if name not in renders and all(v in available for v in preset.variables()):
            renders[name] = (PRESET, preset)
    return renders


def render_entry(name: str, source: str, preset: Preset, item_url: str) -> dict:
    """One rendering with its URLs (``item_url``: the item's base URL)."""
    query = preset.query()
    still = Preset(name, preset.title, tuple(p for p in preset.params if p[0] != "tilesize"))
    return {
        "name": name,
        "title": preset.title,
        "source": source,
        "params": [list(p) for p in preset.params],
        "query": query,
        "links": {
            "xyz": f"{item_url}/tiles/{TMS}/{{z}}/{{x}}/{{y}}.png?{query}",
            "tilejson": f"{item_url}/{TMS}/tilejson.json?{query}",
            "viewer": f"{item_url}/viewer?preset={name}",
            "preview": f"{item_url}/preview.png?{still.query()}",
        },
    }


def get_render(renders: dict, name: str, label: str):
    try:
        return renders[name]
    except KeyError:
        raise ItemNotFoundError(
            f"{label} has no rendering {name!r}; its renderings: {', '.join(renders) or 'none'}"
        ) from None
