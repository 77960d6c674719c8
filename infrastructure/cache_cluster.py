"""ElastiCache Redis: the tile cache's index, metadata and hot bodies (every body lives in S3).

A ``CfnReplicationGroup`` (``CfnCacheCluster`` offers neither TLS nor AUTH): TLS in
transit (required), encryption at rest, an AUTH token generated in Secrets Manager
(the Lambdas read it at cold start from ``TITILER_EOPF_CACHE_REDIS_PASSWORD_SECRET_ARN``;
it never appears in an environment variable), automatic failover and multi-AZ when
there is at least one replica. Its security group admits 6379 only from the security
groups that are granted access (the two Lambdas).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_elasticache as elasticache
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct

REDIS_PORT = 6379


@dataclass(frozen=True)
class CacheClusterProps:
    vpc: ec2.IVpc
    subnets: ec2.SubnetSelection
    namespace: str
    node_type: str = "cache.t4g.micro"
    replicas: int = 0
    engine_version: str = "7.1"


class CacheCluster(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: CacheClusterProps) -> None:
        super().__init__(scope, construct_id)
        self.port = REDIS_PORT
        self.security_group = ec2.SecurityGroup(
            self,
            "SecurityGroup",
            vpc=props.vpc,
            description=f"TiTiler-EOPF {props.namespace} Redis: 6379 from the tiler Lambdas only",
            allow_all_outbound=False,
        )

        # AUTH token: 64 characters, none of the ones ElastiCache forbids (@ " / and space).
        # The secret string is the token itself (not JSON).
        self.auth_secret = secretsmanager.Secret(
            self,
            "AuthToken",
            description=f"TiTiler-EOPF {props.namespace}: ElastiCache Redis AUTH token",
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=64,
                exclude_punctuation=True,
                include_space=False,
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )

        subnet_ids = props.vpc.select_subnets(
            subnet_group_name=props.subnets.subnet_group_name,
            subnet_type=props.subnets.subnet_type,
        ).subnet_ids
        self.subnet_group = elasticache.CfnSubnetGroup(
            self,
            "SubnetGroup",
            description=f"TiTiler-EOPF {props.namespace} cache subnets (isolated)",
            subnet_ids=subnet_ids,
        )

        # Every key the cache writes has a TTL and is disposable (a lost generation
        # reads as a miss, a lost hot body is re-read from S3): evict by LRU over
        # all keys when memory is full, never refuse writes.
        family = f"redis{props.engine_version.split('.')[0]}"
        self.parameter_group = elasticache.CfnParameterGroup(
            self,
            "Parameters",
            cache_parameter_group_family=family,
            description=f"TiTiler-EOPF {props.namespace} tile cache: LRU eviction over all keys",
            properties={"maxmemory-policy": "allkeys-lru"},
        )

        multi_az = props.replicas >= 1
        self.replication_group = elasticache.CfnReplicationGroup(
            self,
            "ReplicationGroup",
            replication_group_description=f"TiTiler-EOPF {props.namespace} tile cache index",
            engine="redis",
            engine_version=props.engine_version,
            cache_node_type=props.node_type,
            num_cache_clusters=1 + props.replicas,
            automatic_failover_enabled=multi_az,
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
        )
        # The cache is disposable: deleting the stack deletes it (no final snapshot).
        self.replication_group.apply_removal_policy(RemovalPolicy.DESTROY)
        self.host = self.replication_group.attr_primary_end_point_address
        self.port_string = Token.as_string(self.replication_group.attr_primary_end_point_port)

    def allow_from(self, *peers: ec2.ISecurityGroup) -> None:
        """Admit Redis traffic (6379) from these security groups only."""
        for peer in peers:
            self.security_group.add_ingress_rule(
                peer, ec2.Port.tcp(REDIS_PORT), "Redis from a tiler Lambda"
            )
            peer.add_egress_rule(self.security_group, ec2.Port.tcp(REDIS_PORT), "Redis cache")
