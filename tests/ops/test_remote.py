"""The CLI against a deployed stack, and the admin Lambda's ``seed`` action.

``--stack`` reads real CloudFormation outputs from moto's server (boto3 through
AWS_ENDPOINT_URL). ``--lambda`` cannot invoke a real function here: moto runs
Lambda code only in Docker, which these machines do not have. So the payload the
CLI builds is JSON-encoded, handed to the admin handler called directly (the
function the deployed Lambda runs), and its JSON reply goes back through the
CLI's reply parsing: everything but the network hop is the real path. A real
boto3 invoke against moto is still made once, for the error it answers.
"""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support.ops import BBOX, ITEM
from titiler_eopf.presets import PRESETS, tile_url

C = "sentinel-2-l2a"
FUNCTION = "titiler-eopf-admin-test"


class FakeContext:
    def __init__(self, remaining_ms: int = 300_000):
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def lambda_stand_in(ops, monkeypatch):
    """Invocations of FUNCTION run the admin handler in this process."""
    from titiler_eopf.handlers import admin
    from titiler_eopf.ops.admin_client import LambdaAdmin

    monkeypatch.setenv("TITILER_EOPF_SEED_API_URL", ops.url)  # as the stack sets it
    calls = []

    def invoke(function_name, payload: bytes, region):
        assert function_name == FUNCTION
        event = json.loads(payload)
        calls.append(event)
        return json.dumps(admin.handler(event, FakeContext())).encode(), None

    monkeypatch.setattr(LambdaAdmin, "transport", staticmethod(invoke))
    return calls


def text(out: str) -> str:
    """The CLI's output without the JSON log lines the admin handler (the Lambda's code) prints."""
    return "\n".join(line for line in out.splitlines() if not line.startswith("{"))


def x_cache(url):
    return httpx.get(url, timeout=30).headers["x-cache"]


def test_lambda_status_and_invalidate(cli, lambda_stand_in, ops):
    code, out, err = cli("cache", "status", "--lambda", FUNCTION)
    assert code == 0, err
    assert "backend: s3_redis" in out
    tile = tile_url(ops.url, C, ITEM, PRESETS["true-colour"], 12, 2178, 1514)
    x_cache(tile)
    assert x_cache(tile) == "HIT"
    code, out, _ = cli("cache", "invalidate", "item", C, ITEM, "--lambda", FUNCTION)
    assert (
        code == 0
        and text(out).startswith("item: matched 0; generation of")
        and f"{C}/{ITEM} is now" in out
    )
    assert x_cache(tile) == "MISS"
    assert lambda_stand_in[-1] == {
        "action": "invalidate",
        "scope": "item",
        "dry_run": False,
        "collection": C,
        "item": ITEM,
    }


def test_lambda_seed_runs_in_slices_until_done(cli, lambda_stand_in, ops, monkeypatch):
    from titiler_eopf.admin import seeding

    monkeypatch.setattr(seeding, "MAX_SEED_TILES", 3)  # 8 requests -> 3 invocations
    code, out, err = cli(
        "cache",
        "seed",
        C,
        ITEM,
        "--minzoom",
        12,
        "--maxzoom",
        12,
        f"--bbox={BBOX}",
        "--preset",
        "true-colour",
        "--preset",
        "false-colour",
        "--lambda",
        FUNCTION,
    )
    assert code == 0, err
    assert text(out).strip().startswith("8 requests in"), out
    assert [c["start"] for c in lambda_stand_in] == [0, 3, 6]
    assert x_cache(tile_url(ops.url, C, ITEM, PRESETS["false-colour"], 12, 2179, 1515)) == "HIT"


def test_admin_seed_action_is_bounded_and_resumable(ops, monkeypatch):
    from titiler_eopf.handlers import admin

    monkeypatch.setenv("TITILER_EOPF_SEED_API_URL", ops.url)
    event = {
        "action": "seed",
        "collection": C,
        "item": ITEM,
        "minzoom": 12,
        "maxzoom": 12,
        "bbox": [11.43, 42.30, 11.60, 42.42],
        "presets": ["ndvi"],
        "limit": 3,
    }
    reply = admin.handler(event, FakeContext())
    assert reply["ok"], reply
    assert reply["result"]["total"] == 4 and reply["result"]["next"] == 3
    assert reply["result"]["counts"]["rendered"] == 3
    reply = admin.handler({**event, "start": 3}, FakeContext())
    assert reply["result"]["next"] is None and reply["result"]["counts"]["rendered"] == 1
    # a function about to time out submits nothing and says where to go on
    reply = admin.handler({**event, "start": 0}, FakeContext(remaining_ms=1000))
    assert reply["result"]["next"] == 0 and sum(reply["result"]["counts"].values()) == 0

    bad = [
        ({**event, "limit": 501}, "1 <= limit <= 500"),
        ({**event, "presets": ["infrared"]}, "unknown preset 'infrared'"),
        ({k: v for k, v in event.items() if k != "maxzoom"}, "seed needs 'minzoom' and 'maxzoom'"),
        ({**event, "bbox": [11, 42, 10, 43]}, "bbox out of range"),
        (
            {**event, "item": "nope", "bbox": None},
            "TileJSON of sentinel-2-l2a/nope answered HTTP 404",
        ),
    ]
    for payload, message in bad:
        reply = admin.handler(payload, FakeContext())
        assert reply["ok"] is False and message in reply["error"]["message"], (payload, reply)
    monkeypatch.delenv("TITILER_EOPF_SEED_API_URL")
    monkeypatch.setattr(admin, "_service", None)  # a container started without it
    reply = admin.handler(event, FakeContext())
    assert "set TITILER_EOPF_SEED_API_URL" in reply["error"]["message"]


@pytest.fixture
def moto_stack(ops, monkeypatch):
    """A CloudFormation stack in moto with this project's outputs."""
    import boto3

    monkeypatch.setenv("AWS_ENDPOINT_URL", ops.moto_url)
    template = {
        "Resources": {"Topic": {"Type": "AWS::SNS::Topic"}},
        "Outputs": {"ApiUrl": {"Value": ops.url}, "AdminFunctionName": {"Value": FUNCTION}},
    }
    name = "TitilerEopf-clitest"
    cfn = boto3.client("cloudformation", region_name="us-east-1")
    try:
        cfn.delete_stack(StackName=name)
    except Exception:  # noqa: BLE001
        pass
    cfn.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return name


def test_stack_outputs_give_the_api_url_and_the_function(cli, ops, moto_stack):
    code, out, err = cli(
        "cache",
        "seed",
        C,
        ITEM,
        "--minzoom",
        12,
        "--maxzoom",
        12,
        f"--bbox={BBOX}",
        "--stack",
        moto_stack,
        "--region",
        "us-east-1",
    )
    assert code == 0, err
    assert "rendered 4" in out
    # the admin function comes from the stack too; moto has no such function: one line
    code, _, err = cli("cache", "status", "--stack", moto_stack, "--region", "us-east-1")
    assert code == 1
    assert err.startswith(
        f"titiler-eopf: error: cannot invoke {FUNCTION}: ResourceNotFoundException"
    )
    assert len(err.strip().splitlines()) == 1
    code, _, err = cli("cache", "status", "--stack", "no-such-stack", "--region", "us-east-1")
    assert code == 1 and err.startswith(
        "titiler-eopf: error: cannot read stack no-such-stack: ValidationError"
    )
