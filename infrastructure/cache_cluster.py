"""ElastiCache (Valkey or Redis OSS): the tile cache's index, metadata and hot bodies (every
body lives in S3). Three modes (``cache_mode``):

* ``node``: a ``CfnReplicationGroup`` with one shard, a primary and ``replicas`` replicas
  (``CfnCacheCluster`` offers neither TLS nor AUTH);
* ``cluster``: the same with cluster mode enabled, ``shards`` shards of 1 + ``replicas``
  nodes; the app talks to the configuration endpoint with a cluster client;
* ``serverless``: an ``AWS::ElastiCache::ServerlessCache`` (always TLS, cluster mode only),
  bounded by usage limits (data storage, ECPUs per second).

Node and cluster: TLS in transit (required), encryption at rest, an AUTH token generated in
Secrets Manager. Serverless: role-based access with one user group, a disabled ``default``
user and the app's user, whose password is generated in Secrets Manager: the app
authenticates with a username and password exactly as with an AUTH token (no IAM token
signing and 12-hour reconnects in the app). Either way the Lambdas read the secret at cold
start from ``TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN``; it never appears in an
environment variable. The security group admits the cache's ports only from the security
groups that are granted access (the two Lambdas).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Fn, RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

REDIS_PORT = 6379
# ElastiCache Serverless: primary endpoint 6379, reader endpoint 6380 (a cluster client
# may be pointed at either by the topology it reads).
SERVERLESS_PORTS = (6379, 6380)
# The app's user on a serverless cache: every command but the @dangerous ones (KEYS,
# FLUSHALL, CONFIG, DEBUG, ...), on every key (the cache owns the whole keyspace).
APP_ACCESS_STRING = "on ~* +@all -@dangerous"
APP_USERNAME = "titiler-eopf"


@dataclass(frozen=True)
class CacheClusterProps:
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    namespace: str
    mode: str = "node"
    engine: str = "valkey"
    engine_version: str = "8.1"
    parameter_family: str = "valkey8"
    node_type: str = "cache.t4g.micro"
    replicas: int = 0
    shards: int = 2
    max_storage_gb: int = 10
    max_ecpu_per_second: int = 100_000


class CacheCluster(Construct):
    """The cache, its security group and its secret; ``host``/``port_string`` for the app."""

    def __init__(self, scope: Construct, construct_id: str, props: CacheClusterProps) -> None:
        super().__init__(scope, construct_id)
        self.props = props
        self.mode = props.mode
        self.clustered = props.mode in ("cluster", "serverless")
        self.ports = SERVERLESS_PORTS if props.mode == "serverless" else (REDIS_PORT,)
        self.port = REDIS_PORT
        self.username: str | None = None
        self.replication_group: elasticache.CfnReplicationGroup | None = None
        self.parameter_group: elasticache.CfnParameterGroup | None = None
        self.serverless_cache: elasticache.CfnServerlessCache | None = None
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            # (the node-mode text is unchanged: a new description replaces the group)
            description=(
                f"TiTiler-EOPF {props.namespace} Redis: "
                f"{'-'.join(map(str, self.ports))} from the tiler Lambdas only"
            ),
            allow_all_outbound=False,
        )

        # 64 characters, none of the ones ElastiCache forbids (@ " / and space). The secret
        # string is the token (or the serverless user's password) itself, not JSON.
        self.auth_secret = secretsmanager.Secret(
            self,
            "AuthToken",
            description=(
                f"TiTiler-EOPF {props.namespace}: ElastiCache "
                + ("password of the app's user" if props.mode == "serverless" else "AUTH token")
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64,
                exclude_punctuation=True,
                include_space=False,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        self.subnet_ids = props.vpc.select_subnets(
            subnet_group_name=props.subnets.subnet_group_name,
            subnet_type=props.subnets.subnet_type,
        ).subnet_ids
        if props.mode == "serverless":
            self._serverless(props)
        else:
            self._replication_group(props)

    # ------------------------------------------------------------------ node / cluster

    def _replication_group(self, props: CacheClusterProps) -> None:
        cluster = props.mode == "cluster"
        self.subnet_group = elasticache.CfnSubnetGroup(
            self,
            "SubnetGroup",
            description=f"TiTiler-EOPF {props.namespace} cache subnets (isolated)",
            subnet_ids=self.subnet_ids,
        )
        # Every key the cache writes has a TTL and is disposable (a lost generation
        # reads as a miss, a lost hot body is re-read from S3): evict by LRU over
        # all keys when memory is full, never refuse writes.
        parameters = {"maxmemory-policy": "allkeys-lru"}
        if cluster:
            parameters["cluster-enabled"] = "yes"  # a custom group must say so itself
        self.parameter_group = elasticache.CfnParameterGroup(
            self,
            "Parameters",
            cache_parameter_group_family=props.parameter_family,
            description=f"TiTiler-EOPF {props.namespace} tile cache: LRU eviction over all keys",
            properties=parameters,
        )
        multi_az = props.replicas >= 1
        shape = (
            dict(
                cluster_mode="enabled",
                num_node_groups=props.shards,
                replicas_per_node_group=props.replicas,
                # required with cluster mode enabled, whatever the number of replicas
                automatic_failover_enabled=True,
            )
            if cluster
            else dict(num_cache_clusters=1 + props.replicas, automatic_failover_enabled=multi_az)
        )
        group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"TiTiler-EOPF {props.namespace} tile cache index",
            engine=props.engine,
            engine_version=props.engine_version,
            cache_node_type=props.node_type,
            multi_az_enabled=multi_az,
            port=REDIS_PORT,
            transit_encryption_enabled=True,
            transit_encryption_mode="required",
            at_rest_encryption_enabled=True,
            # A {{resolve:secretsmanager:...}} dynamic reference: not in the template in clear.
            auth_token=self.auth_secret.secret_value.unsafe_unwrap(),
            cache_subnet_group_name=self.subnet_group.ref,
            cache_parameter_group_name=self.parameter_group.ref,
            security_group_ids=[self.security_group.security_group_id],
            auto_minor_version_upgrade=True,
            snapshot_retention_limit=0,  # a cache: nothing worth restoring
            **shape,
        )
        # The cache is disposable: deleting the stack deletes it (no final snapshot).
        group.apply_removal_policy(RemovalPolicy.DESTROY)
        self.replication_group = group
        if cluster:
            self.host = group.attr_configuration_end_point_address
            self.port_string = Token.as_string(group.attr_configuration_end_point_port)
        else:
            self.host = group.attr_primary_end_point_address
            self.port_string = Token.as_string(group.attr_primary_end_point_port)

    @property
    def node_ids(self) -> list[str]:
        """The CloudWatch ``CacheClusterId`` of every node (``<group>-001``, or
        ``<group>-0001-001`` per shard in cluster mode); empty for serverless."""
        if self.replication_group is None:
            return []
        group = self.replication_group.ref
        nodes = range(1, 2 + self.props.replicas)
        if self.mode == "cluster":
            return [
                Fn.join("", [group, f"-{shard:04d}-{node:03d}"])
                for shard in range(1, 1 + self.props.shards)
                for node in nodes
            ]
        return [Fn.join("", [group, f"-{node:03d}"]) for node in nodes]

    # ------------------------------------------------------------------ serverless

    def _serverless(self, props: CacheClusterProps) -> None:
        prefix = f"titiler-eopf-{props.namespace}"
        # A user group must hold a user named "default": this one is disabled ("off"),
        # so a connection that does not authenticate as the app's user can do nothing.
        self.default_user = elasticache.CfnUser(
            self,
            "DefaultUser",
            engine=props.engine,
            user_id=f"{prefix}-default",
            user_name="default",
            access_string="off -@all",
            authentication_mode={"Type": "no-password-required"},
        )
        self.app_user = elasticache.CfnUser(
            self,
            "AppUser",
            engine=props.engine,
            user_id=f"{prefix}-app",
            user_name=APP_USERNAME,
            access_string=APP_ACCESS_STRING,
            authentication_mode={
                "Type": "password",
                "Passwords": [self.auth_secret.secret_value.unsafe_unwrap()],
            },
        )
        self.user_group = elasticache.CfnUserGroup(
            self,
            "UserGroup",
            engine=props.engine,
            user_group_id=f"{prefix}-users",
            user_ids=[self.default_user.ref, self.app_user.ref],  # Ref: the user ID
        )
        self.username = APP_USERNAME
        self.serverless_cache = elasticache.CfnServerlessCache(
            self,
            "Serverless",
            serverless_cache_name=prefix,
            description=f"TiTiler-EOPF {props.namespace} tile cache index",
            engine=props.engine,
            major_engine_version=props.engine_version.split(".")[0],
            cache_usage_limits=elasticache.CfnServerlessCache.CacheUsageLimitsProperty(
                data_storage=elasticache.CfnServerlessCache.DataStorageProperty(
                    unit="GB", maximum=props.max_storage_gb
                ),
                ecpu_per_second=elasticache.CfnServerlessCache.ECPUPerSecondProperty(
                    maximum=props.max_ecpu_per_second
                ),
            ),
            security_group_ids=[self.security_group.security_group_id],
            subnet_ids=self.subnet_ids,
            user_group_id=self.user_group.ref,  # Ref: the user group ID
            snapshot_retention_limit=0,  # a cache: nothing worth restoring
        )
        self.serverless_cache.apply_removal_policy(RemovalPolicy.DESTROY)
        self.serverless_name = prefix
        self.host = self.serverless_cache.attr_endpoint_address
        self.port_string = self.serverless_cache.attr_endpoint_port

    # ------------------------------------------------------------------ access

    @property
    def resource(self):
        """The L1 resource of the cache (for acknowledgments and outputs)."""
        return self.serverless_cache or self.replication_group

    def allow_from(self, *peers: ec2.ISecurityGroup) -> None:
        """Admit the cache's ports from these security groups only."""
        port = (
            ec2.Port.tcp_range(self.ports[0], self.ports[-1])
            if len(self.ports) > 1
            else ec2.Port.tcp(self.ports[0])
        )
        for peer in peers:
            self.security_group.add_ingress_rule(peer, port, "Redis from a tiler Lambda")
            peer.add_egress_rule(self.security_group, port, "Redis cache")
