"""cdk-nag (AwsSolutions) and cfn-lint on synthesized assemblies, and `cdk synth` through
the pinned CLI without AWS credentials."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.infra import ROOT, VARIANTS, synth_stack, synthesize

CONFIGS = {
    "default": {},
    "prod-s3-no-nat-arm64": {
        "stage": "prod",
        "nat_gateways": "0",
        "store_url": "s3://eopf-products/sentinel-2",
        "architecture": "arm64",
        "cache_replicas": "1",
    },
    "cloudfront-cors": {
        "stage": "staging",
        "cloudfront": "true",
        "cors_origins": "https://explorer.example.com",
        "alarm_topic_arn": "arn:aws:sns:eu-central-1:123456789012:alarms",
    },
}


@pytest.fixture(scope="module", params=sorted(CONFIGS) + sorted(VARIANTS))
def assembly(request, tmp_path_factory) -> tuple[str, Path, str, dict | None, Exception | None]:
    """The app synthesized (with cdk-nag) for one configuration (the default one and the
    scale-out variants are shared with the template tests); returns (name, outdir, stack
    name, report, error)."""
    name = request.param
    if name in VARIANTS:
        synth = request.getfixturevalue("variant_synth")(name)
    elif CONFIGS[name]:
        synth = synthesize(name, CONFIGS[name], tmp_path_factory.mktemp(f"cdkout-{name}"))
    else:
        synth = request.getfixturevalue("default_synth")
    return name, synth.outdir, synth.stack.stack_name, synth.report, synth.error


def test_cdk_nag_no_unacknowledged_findings(assembly):
    name, _outdir, _stack, report, error = assembly
    assert report is not None, f"{name}: no validation report ({error})"
    plugins = {p["pluginName"]: p for p in report["pluginReports"]}
    assert "AwsSolutions" in plugins, "cdk-nag did not run"
    nag = plugins["AwsSolutions"]
    violations = [
        (v["ruleName"], [c["constructPath"] for c in v["violatingConstructs"]])
        for v in nag["violations"]
    ]
    assert violations == [], f"{name}: unacknowledged cdk-nag findings: {violations}"
    assert nag["conclusion"] == "success"
    assert error is None


def test_every_acknowledgment_has_a_reason(assembly):
    name, _outdir, _stack, report, _error = assembly
    suppressed = report["pluginReports"][0]["suppressedViolations"]
    assert suppressed, "expected acknowledged findings"
    for finding in suppressed:
        assert len(finding.get("reason", "").strip()) >= 40, (
            f"{name}: {finding['ruleName']} acknowledged without a real reason"
        )


def test_cfn_lint_no_errors(assembly):
    from cfnlint.api import ManualArgs, lint_file

    name, outdir, stack_name, _report, _error = assembly
    template = outdir / f"{stack_name}.template.json"
    matches = lint_file(template, ManualArgs(regions=["eu-central-1", "us-east-1"]))
    errors = [
        f"{m.rule.id} {m.message} ({'/'.join(map(str, m.path))})"
        for m in matches
        if m.rule.id.startswith("E")
    ]
    assert errors == [], f"{name}: cfn-lint errors:\n" + "\n".join(errors)


def test_nag_is_active_unacknowledged_findings_fail_synth(tmp_path):
    """Without the acknowledgments the same stack reports findings (the check is live)."""
    from aws_cdk import Validations
    from cdk_nag import AwsSolutionsChecks

    app, _stack = synth_stack(nag=False, outdir=str(tmp_path))
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(Exception):  # noqa: B017 - jsii wraps the synthesis error
        app.synth()
    report = json.loads((tmp_path / "validation-report.json").read_text())
    rules = {v["ruleName"] for v in report["pluginReports"][0]["violations"]}
    assert {"AwsSolutions-SMG4", "AwsSolutions-APIG4", "AwsSolutions-L1"} <= rules


def _cdk_cli() -> Path | None:
    cli = ROOT / "node_modules" / ".bin" / "cdk"
    return cli if cli.exists() and shutil.which("node") else None


@pytest.mark.skipif(_cdk_cli() is None, reason="pinned CDK CLI not installed: run `npm ci`")
def test_cdk_cli_synth_without_credentials(tmp_path):
    """`make synth`: npx --no-install cdk synth, no AWS credentials, bundling skipped."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    env.update(
        CDK_DISABLE_VERSION_CHECK="1",
        JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="20",
        AWS_CONFIG_FILE=str(tmp_path / "none"),
        AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "none"),
        AWS_EC2_METADATA_DISABLED="true",
    )
    out = tmp_path / "cdk.out"
    result = subprocess.run(
        [
            "npx",
            "--no-install",
            "cdk",
            "synth",
            "--quiet",
            "-c",
            "bundle=false",
            "--output",
            str(out),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    template = json.loads((out / "TitilerEopf-dev.template.json").read_text())
    assert any(
        r["Type"] == "AWS::ElastiCache::ReplicationGroup" for r in template["Resources"].values()
    )
