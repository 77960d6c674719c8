"""The TiTiler-EOPF stack: wires the constructs together, nothing else."""

from __future__ import annotations

from aws_cdk import CfnOutput, Environment, RemovalPolicy, Stack, Tags
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from .api import TileApi, TileApiProps
from .bundling.cdk import lambda_code
from .cache_bucket import CacheBucket, CacheBucketProps
from .cache_cluster import CacheCluster, CacheClusterProps
from .config import LOG_RETENTION_DAYS, StackConfig
from .functions import Functions, FunctionsProps
from .monitoring import Monitoring, MonitoringProps
from .network import Network, NetworkProps

# The config's retention choices are CloudWatch's, in the order of CDK's RetentionDays
# (whose INFINITE is never offered).
_RETENTION = dict(
    zip(
        LOG_RETENTION_DAYS,
        [m for m in logs.RetentionDays if m.name != "INFINITE"],
        strict=True,
    )
)


def retention_days(days: int) -> logs.RetentionDays:
    return _RETENTION[days]


class TitilerEopfStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: StackConfig,
        code: lambda_.Code | None = None,
        **kwargs,
    ) -> None:
        env = kwargs.pop("env", None)
        if env is None and (config.account or config.region):
            env = Environment(account=config.account, region=config.region)
        super().__init__(
            scope,
            construct_id,
            stack_name=config.stack_name,
            description=(
                f"TiTiler-EOPF tile server ({config.stage}): "
                "HTTP API + Lambda, Redis index + S3 tile cache"
            ),
            env=env,
            **kwargs,
        )
        self.config = config
        Tags.of(self).add("project", "titiler-eopf")
        Tags.of(self).add("stage", config.stage)
        removal = RemovalPolicy.RETAIN if config.retain else RemovalPolicy.DESTROY
        retention = retention_days(config.log_retention_days)

        self.network = Network(
            self,
            "Network",
            NetworkProps(
                nat_gateways=config.nat_gateways, log_retention=retention, removal_policy=removal
            ),
        )
        self.cache = CacheCluster(
            self,
            "Cache",
            CacheClusterProps(
                vpc=self.network.vpc,
                subnets=self.network.cache_subnets,
                namespace=config.stage,
                mode=config.cache_mode,
                engine=config.cache_engine,
                engine_version=config.cache_engine_version,
                parameter_family=(
                    config.cache_parameter_family if config.cache_mode != "serverless" else ""
                ),
                node_type=config.cache_node_type,
                replicas=config.cache_replicas,
                shards=config.cache_shards,
                max_storage_gb=config.cache_max_storage_gb,
                max_ecpu_per_second=config.cache_max_ecpu_per_second,
            ),
        )
        self.bucket = CacheBucket(
            self,
            "CacheBucket",
            CacheBucketProps(
                prefix=config.cache_prefix,
                tile_expiration_days=config.tile_expiration_days,
                meta_expiration_days=config.meta_expiration_days,
                retain=config.retain,
            ),
        )
        self.functions = Functions(
            self,
            "Functions",
            FunctionsProps(
                config=config,
                vpc=self.network.vpc,
                subnets=self.network.lambda_subnets,
                cache=self.cache,
                bucket=self.bucket,
                code=code or lambda_code(config.architecture),
                log_retention=retention,
                removal_policy=removal,
            ),
        )
        self.network.allow_endpoints_from(
            self.functions.tile_security_group, self.functions.admin_security_group
        )
        self.api = TileApi(
            self,
            "Api",
            TileApiProps(
                function=self.functions.tile_target,
                stage=config.stage,
                cors_origins=config.cors_origins,
                throttle_rate=config.throttle_rate,
                throttle_burst=config.throttle_burst,
                log_retention=retention,
                removal_policy=removal,
                cloudfront=config.cloudfront,
                cdn_max_ttl=config.tile_ttl,
            ),
        )
        # Absolute URLs the app embeds (TileJSON ``tiles``) are built from the public
        # URL, never from a request's Host: the CDN's when there is one, else the API's.
        public_url = (
            f"https://{self.api.distribution.distribution_domain_name}"
            if self.api.distribution is not None
            else self.api.url
        )
        for function in (self.functions.tile_function, self.functions.admin_function):
            function.add_environment("TITILER_EOPF_PUBLIC_URL", public_url)
        # The admin Lambda's "seed" action requests tiles through the API, so what it
        # stores is exactly what users hit (outbound HTTPS through the NAT).
        self.functions.admin_function.add_environment("TITILER_EOPF_SEED_API_URL", self.api.url)
        if self.api.distribution is not None:
            self.functions.lock_origin(self.api.origin_secret)
            self.functions.allow_invalidation(self.api.distribution)
        self.monitoring = Monitoring(
            self,
            "Monitoring",
            MonitoringProps(
                config=config,
                http_api=self.api.http_api,
                tile_function=self.functions.tile_function,
                admin_function=self.functions.admin_function,
                cache=self.cache,
            ),
        )

        CfnOutput(self, "ApiUrl", value=self.api.url, description="Tile API base URL")
        CfnOutput(
            self,
            "AdminFunctionName",
            value=self.functions.admin_function.function_name,
            description="aws lambda invoke --function-name ...",
        )
        CfnOutput(
            self,
            "CacheBucketName",
            value=self.bucket.bucket.bucket_name,
            description="S3 bucket of the cache bodies",
        )
        CfnOutput(
            self,
            "RedisEndpoint",
            value=self.cache.host,
            description=(
                f"ElastiCache {config.cache_engine} endpoint ({config.cache_mode} mode, TLS, "
                "AUTH); in cluster and serverless modes a cluster client's seed"
            ),
        )
        CfnOutput(self, "RedisPort", value=self.cache.port_string)
        if self.api.distribution is not None:
            CfnOutput(
                self,
                "CdnUrl",
                value=f"https://{self.api.distribution.distribution_domain_name}",
                description="CloudFront URL",
            )
