"""cdk-nag (AwsSolutions) for the app, and every acknowledged finding with its reason.

cdk-nag 3.x runs as a CDK policy-validation plugin (``Validations.of(app).add_plugins``):
an unacknowledged finding makes ``cdk synth`` fail. Each acknowledgment is attached to
the narrowest construct it concerns and, for IAM wildcards, to the exact resource.
"""

from __future__ import annotations

from aws_cdk import Acknowledgment, App, Stack, Validations
from cdk_nag import AwsSolutionsChecks
from constructs import IConstruct

from .stack import TitilerEopfStack

PREFIX = "AwsSolutions::"

REASONS = {
    "SMG4": (
        "ElastiCache AUTH token (or the serverless app user's password): automatic rotation "
        "needs a rotation Lambda that calls ModifyReplicationGroup (AuthTokenUpdateStrategy "
        "ROTATE, then SET) or ModifyUser, which is not provided. The secret is readable "
        "only by the two tiler roles and the cache is reachable only from their security "
        "groups; rotate by hand when needed."
    ),
    "SMG4-origin": (
        "CloudFront origin-verify value: CloudFront holds it in the distribution's origin "
        "custom header, resolved from this secret at deploy time, so a rotation must redeploy "
        "the distribution (rotate with a stack update); readable only by the two tiler roles."
    ),
    "AEC4": (
        "cache_replicas=0: the Redis index is a disposable accelerator (bodies stay in S3, a "
        "Redis failure makes the tiler render instead of failing); -c cache_replicas=1 or more "
        "enables multi-AZ with automatic failover."
    ),
    "AEC5": (
        "Default port 6379 is the app's contract; the security group admits it only from the "
        "two Lambda security groups, in isolated subnets, with TLS and AUTH: a non-default port "
        "would add no protection."
    ),
    "S1": (
        "Cache bucket of regenerable tile bodies written on cache misses: server access logs "
        "would add a log object per request for no audit value; requests are logged by the API "
        "access logs, public access is blocked, SSL is enforced."
    ),
    "IAM4": (
        "AWS managed Lambda execution policies (CloudWatch Logs; ENI management for a function "
        "in a VPC), maintained by AWS; the data permissions are inline and scoped."
    ),
    "IAM5-cache": (
        "Object wildcard limited to the cache prefix: cache keys are created at runtime, so "
        "access is scoped by prefix (tile: Get/Put; admin: Get/Delete, List with an s3:prefix "
        "condition)."
    ),
    "IAM5-store": (
        "Read-only access to the objects of the configured s3:// product store (prefix-scoped "
        "when the URL has a prefix)."
    ),
    "L1": (
        "Runtime pinned to python3.12 on purpose: the bundle (cp312 wheels, bytecode compiled "
        "by 3.12, glibc 2.34 checks) is built and tested for it; a newer runtime is a "
        "deliberate change of the bundle."
    ),
    "APIG4": (
        "Public, read-only tile API (GET/HEAD only), like the public EOPF explorer's tiler; "
        "abuse is bounded by stage throttling; cache administration is a separate Lambda that "
        "is never exposed through the API."
    ),
    "CFR1": ("Public tile service for all regions: no geographic restriction."),
    "CFR2": (
        "No WAF web ACL: read-only public tiles; request rates are bounded by the HTTP API "
        "throttling behind it."
    ),
    "CFR3": (
        "CloudFront access logs not enabled: requests reaching the origin are logged by the "
        "HTTP API access logs."
    ),
    "CFR4": (
        "The distribution uses the default *.cloudfront.net certificate, which CloudFront "
        "serves with TLSv1 allowed; attach a custom domain/certificate to enforce TLSv1.2_2021."
    ),
}


def _ack(
    scope: IConstruct, rule: str, reason_key: str | None = None, finding: str | None = None
) -> None:
    rule_id = f"{PREFIX}AwsSolutions-{rule}" + (f"[{finding}]" if finding else "")
    Validations.of(scope).acknowledge(
        Acknowledgment(id=rule_id, reason=REASONS[reason_key or rule])
    )


def _ref(stack: Stack, construct: IConstruct, attribute: str = "Arn") -> str:
    return f"<{stack.get_logical_id(construct.node.default_child)}.{attribute}>"


def acknowledge_findings(stack: TitilerEopfStack) -> None:
    config = stack.config
    _ack(stack.cache.auth_secret, "SMG4")
    if stack.cache.replication_group is not None:
        if config.cache_replicas == 0:
            _ack(stack.cache.replication_group, "AEC4")
        _ack(stack.cache.replication_group, "AEC5")
    _ack(stack.bucket.bucket, "S1")

    cache_objects = f"Resource::{_ref(stack, stack.bucket.bucket)}/{config.cache_prefix}*"
    for function in (stack.functions.tile_function, stack.functions.admin_function):
        _ack(function, "L1")
        for policy in ("AWSLambdaBasicExecutionRole", "AWSLambdaVPCAccessExecutionRole"):
            _ack(
                function.role,
                "IAM4",
                finding=f"Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/{policy}",
            )
        _ack(function.role, "IAM5", "IAM5-cache", finding=cache_objects)
        if config.store_is_s3:
            store_objects = f"{config.store_bucket}/{config.store_key_prefix}*"
            store = f"Resource::arn:<AWS::Partition>:s3:::{store_objects}"
            _ack(function.role, "IAM5", "IAM5-store", finding=store)

    _ack(stack.api.http_api, "APIG4")
    if stack.api.distribution is not None:
        for rule in ("CFR1", "CFR2", "CFR3", "CFR4"):
            _ack(stack.api.distribution, rule)
        _ack(stack.api.origin_secret, "SMG4", "SMG4-origin")


def add_nag(app: App, stack: TitilerEopfStack) -> None:
    """AwsSolutions checks on the whole app, plus this stack's acknowledged findings."""
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    acknowledge_findings(stack)
