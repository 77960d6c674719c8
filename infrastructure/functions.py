"""The two Lambdas (tile, admin), their security groups, log groups and IAM.

Both run the same bundle (one asset) in the VPC's private subnets, so they reach Redis;
least privilege:

* tile: ``s3:GetObject`` + ``s3:PutObject`` on ``<bucket>/<prefix>*`` only;
* admin: ``s3:ListBucket`` on the bucket with an ``s3:prefix`` condition ``<prefix>*``,
  ``s3:GetObject`` + ``s3:DeleteObject`` on ``<bucket>/<prefix>*``;
* both: ``secretsmanager:GetSecretValue`` on the cache's secret only (and, behind a CDN,
  on the origin-verify secret only); read access to the data bucket only when the store
  is ``s3://``;
* admin behind a CDN: ``cloudfront:CreateInvalidation`` + ``GetInvalidation`` on that
  distribution only.

With ``snapstart`` the tile function is published (SnapStart on published versions) and
the HTTP API invokes its ``live`` alias (``tile_target``); ``reserved_concurrency`` caps it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from aws_cdk import Aws, Duration, RemovalPolicy
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

from .cache_bucket import CacheBucket
from .cache_cluster import CacheCluster
from .config import StackConfig

TILE_HANDLER = "titiler_eopf.handlers.tile.handler"
ADMIN_HANDLER = "titiler_eopf.handlers.admin.handler"
RUNTIME = lambda_.Runtime.PYTHON_3_12
TILE_ALIAS = "live"
# The EMF metrics the app publishes (POWERTOOLS_METRICS_NAMESPACE, service dimension).
METRICS_NAMESPACE = "TitilerEopf"
TILE_SERVICE = "titiler-eopf"
ADMIN_SERVICE = "titiler-eopf-admin"


@dataclass(frozen=True)
class FunctionsProps:
    config: StackConfig
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    cache: CacheCluster
    bucket: CacheBucket
    code: lambda_.Code
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    extra_environment: dict[str, str] = field(default_factory=dict)


def lambda_environment(
    config: StackConfig, cache: CacheCluster, bucket: CacheBucket, service: str
) -> dict[str, str]:
    """The environment the app reads (names fixed by the app's settings)."""
    env = {"TITILER_EOPF_STAC_API_URL": config.stac_api_url} if config.stac_api_url else {}
    if cache.username:
        env["TITILER_EOPF_CACHE_REDIS_USERNAME"] = cache.username
    connect_timeout, read_timeout = config.cache_timeouts
    return env | {
        "TITILER_EOPF_STORE_URL": config.store_url,
        "TITILER_EOPF_STORE_REGION": config.store_region or Aws.REGION,
        "TITILER_EOPF_CACHE_BACKEND": "s3_redis",
        "TITILER_EOPF_CACHE_NAMESPACE": config.stage,
        "TITILER_EOPF_CACHE_REDIS_HOST": cache.host,
        "TITILER_EOPF_CACHE_REDIS_PORT": cache.port_string,
        "TITILER_EOPF_CACHE_REDIS_TLS": "true",
        # Keys spread over shards (cluster mode, serverless): a cluster client.
        "TITILER_EOPF_CACHE_REDIS_CLUSTER": "true" if cache.clustered else "false",
        # Sized for the node (see StackConfig.cache_timeouts): a TLS handshake needs more
        # than the app's 50 ms default, and so does a 256 KiB body on a burstable node.
        "TITILER_EOPF_CACHE_REDIS_CONNECT_TIMEOUT": str(connect_timeout),
        "TITILER_EOPF_CACHE_REDIS_READ_TIMEOUT": str(read_timeout),
        "TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN": cache.auth_secret.secret_arn,
        "TITILER_EOPF_CACHE_S3_BUCKET": bucket.bucket.bucket_name,
        "TITILER_EOPF_CACHE_S3_PREFIX": bucket.prefix,
        "TITILER_EOPF_CACHE_S3_REGION": Aws.REGION,
        "TITILER_EOPF_CACHE_TILE_TTL": str(config.tile_ttl),
        "TITILER_EOPF_CACHE_METADATA_TTL": str(config.metadata_ttl),
        "TITILER_EOPF_CACHE_PREVIEW_TTL": str(config.preview_ttl),
        # A browser's hard reload must not re-render and rewrite shared entries.
        "TITILER_EOPF_CACHE_HONOR_NO_CACHE": "false",
        "TITILER_EOPF_CORS_ORIGINS": json.dumps(list(config.cors_origins)),
        "POWERTOOLS_SERVICE_NAME": service,
        "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
        "POWERTOOLS_LOG_LEVEL": config.log_level,
    }


class Functions(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: FunctionsProps) -> None:
        super().__init__(scope, construct_id)
        config = props.config
        architecture = (
            lambda_.Architecture.ARM_64
            if config.architecture == "arm64"
            else lambda_.Architecture.X86_64
        )

        self.tile_security_group = self._security_group("TileSecurityGroup", props, "tile Lambda")
        self.admin_security_group = self._security_group(
            "AdminSecurityGroup", props, "admin Lambda"
        )
        props.cache.allow_from(self.tile_security_group, self.admin_security_group)

        common = dict(
            runtime=RUNTIME,
            architecture=architecture,
            code=props.code,
            vpc=props.vpc,
            vpc_subnets=props.subnets,
        )

        self.tile_log_group = logs.LogGroup(
            self, "TileLogs", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.tile_function = lambda_.Function(
            self,
            "TileFunction",
            description=f"TiTiler-EOPF {config.stage}: tiles (HTTP API, Mangum)",
            handler=TILE_HANDLER,
            memory_size=config.memory,
            timeout=Duration.seconds(config.timeout),
            security_groups=[self.tile_security_group],
            environment={
                **lambda_environment(config, props.cache, props.bucket, TILE_SERVICE),
                **props.extra_environment,
            },
            log_group=self.tile_log_group,
            reserved_concurrent_executions=config.reserved_concurrency,
            snap_start=lambda_.SnapStartConf.ON_PUBLISHED_VERSIONS if config.snapstart else None,
            **common,
        )
        # What the HTTP API invokes: with SnapStart, the alias of the published version
        # (the snapshot exists only for published versions), else $LATEST.
        self.tile_alias: lambda_.Alias | None = None
        self.tile_target: lambda_.IFunction = self.tile_function
        if config.snapstart:
            self.tile_alias = lambda_.Alias(
                self,
                "TileAlias",
                alias_name=TILE_ALIAS,
                version=self.tile_function.current_version,
                description="The published version the HTTP API invokes (SnapStart)",
            )
            self.tile_target = self.tile_alias

        self.admin_log_group = logs.LogGroup(
            self, "AdminLogs", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.admin_function = lambda_.Function(
            self,
            "AdminFunction",
            description=(
                f"TiTiler-EOPF {config.stage}: cache administration "
                "(invoked directly, never through the API)"
            ),
            handler=ADMIN_HANDLER,
            memory_size=config.admin_memory,
            timeout=Duration.seconds(config.admin_timeout),
            security_groups=[self.admin_security_group],
            environment={
                **lambda_environment(config, props.cache, props.bucket, ADMIN_SERVICE),
                **props.extra_environment,
            },
            log_group=self.admin_log_group,
            **common,
        )

        bucket = props.bucket
        cache_objects = bucket.objects_arn("*")
        self.tile_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CacheBodiesReadWrite",
                actions=["s3:GetObject", "s3:PutObject"],
                resources=[cache_objects],
            )
        )
        self.admin_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CacheList",
                actions=["s3:ListBucket"],
                resources=[bucket.bucket.bucket_arn],
                conditions={"StringLike": {"s3:prefix": [f"{bucket.prefix}*"]}},
            )
        )
        self.admin_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CacheBodiesReadDelete",
                actions=["s3:GetObject", "s3:DeleteObject"],
                resources=[cache_objects],
            )
        )
        for function in (self.tile_function, self.admin_function):
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="RedisAuthToken",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[props.cache.auth_secret.secret_arn],
                )
            )
            if config.store_is_s3:
                self._grant_store_read(function, config)

    def lock_origin(self, secret: secretsmanager.ISecret) -> None:
        """Behind a CDN: both functions read the origin-verify secret (the tile function
        checks the header, the admin's seeder sends it), and only that secret."""
        for function in (self.tile_function, self.admin_function):
            function.add_environment("TITILER_EOPF_ORIGIN_VERIFY_SECRET_ARN", secret.secret_arn)
            function.add_to_role_policy(
                iam.PolicyStatement(
                    sid="OriginVerifySecret",
                    actions=["secretsmanager:GetSecretValue"],
                    resources=[secret.secret_arn],
                )
            )

    def allow_invalidation(self, distribution: cloudfront.Distribution) -> None:
        """The admin Lambda invalidates what it invalidates in the cache on this CDN too."""
        self.admin_function.add_environment(
            "TITILER_EOPF_CDN_DISTRIBUTION_ID", distribution.distribution_id
        )
        self.admin_function.add_to_role_policy(
            iam.PolicyStatement(
                sid="CdnInvalidation",
                actions=["cloudfront:CreateInvalidation", "cloudfront:GetInvalidation"],
                resources=[distribution.distribution_arn],
            )
        )

    def _security_group(
        self, construct_id: str, props: FunctionsProps, what: str
    ) -> ec2.SecurityGroup:
        """No inbound rule; outbound HTTPS (store, S3 endpoint, Secrets Manager) + Redis."""
        sg = ec2.SecurityGroup(
            self,
            construct_id,
            vpc=props.vpc,
            description=f"TiTiler-EOPF {props.config.stage} {what}",
            allow_all_outbound=False,
        )
        sg.add_egress_rule(
            ec2.Peer.any_ipv4(),
            ec2.Port.tcp(443),
            "HTTPS: EOPF store, S3 (gateway endpoint), Secrets Manager",
        )
        if props.config.store_port != 443:
            sg.add_egress_rule(
                ec2.Peer.any_ipv4(), ec2.Port.tcp(props.config.store_port), "EOPF store"
            )
        return sg

    def _grant_store_read(self, function: lambda_.Function, config: StackConfig) -> None:
        bucket_arn = f"arn:{Aws.PARTITION}:s3:::{config.store_bucket}"
        prefix = config.store_key_prefix
        list_statement = iam.PolicyStatement(
            sid="StoreList", actions=["s3:ListBucket"], resources=[bucket_arn]
        )
        if prefix:
            list_statement.add_condition("StringLike", {"s3:prefix": [f"{prefix}*"]})
        function.add_to_role_policy(list_statement)
        function.add_to_role_policy(
            iam.PolicyStatement(
                sid="StoreRead", actions=["s3:GetObject"], resources=[f"{bucket_arn}/{prefix}*"]
            )
        )
