"""The environment the stack gives the Lambdas is the one the app reads: every
``TITILER_EOPF_*`` variable of the CDN variant is a field of the app's settings."""

from __future__ import annotations

from tests.support.infra import logical_id
from titiler_eopf.environment import env_name
from titiler_eopf.settings import sections


def _env(synth, function) -> dict:
    resources = synth.template.to_json()["Resources"]
    return resources[logical_id(synth.stack, function)]["Properties"]["Environment"]["Variables"]


def test_every_app_variable_of_the_cdn_stack_is_read_by_the_app(variant_synth):
    synth = variant_synth("prod-cloudfront-snapstart")
    assert synth.error is None, synth.error
    read = {env_name(cls, field) for _, cls in sections().values() for field in cls.model_fields}
    tile = _env(synth, synth.stack.functions.tile_function)
    admin = _env(synth, synth.stack.functions.admin_function)
    for env in (tile, admin):
        ours = {name for name in env if name.startswith("TITILER_EOPF_")}
        assert ours - read == set()
        assert "TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN" in env  # check (tile), send (seeder)
    assert "TITILER_EOPF_CDN_DISTRIBUTION_ID" in admin
    assert "TITILER_EOPF_CDN_DISTRIBUTION_ID" not in tile
