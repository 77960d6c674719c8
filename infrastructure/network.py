"""VPC: 2 AZs, private subnets with egress for the Lambdas, isolated subnets for the cache.

EOPF products are served over HTTPS from outside AWS, so the Lambdas need a NAT gateway
(``nat_gateways``, default 1). Cache traffic to S3 goes through a gateway endpoint (free,
and off the NAT's per-GB charge). With ``nat_gateways=0`` (allowed only for an ``s3://``
store) the Lambda subnets are isolated and Secrets Manager is reached through an
interface endpoint instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import RemovalPolicy
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_logs as logs
from constructs import Construct


@dataclass(frozen=True)
class NetworkProps:
    nat_gateways: int = 1
    max_azs: int = 2
    log_retention: logs.RetentionDays = logs.RetentionDays.ONE_MONTH
    removal_policy: RemovalPolicy = RemovalPolicy.DESTROY


class Network(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: NetworkProps) -> None:
        super().__init__(scope, construct_id)
        self.has_nat = props.nat_gateways > 0
        lambda_subnet_type = (
            ec2.SubnetType.PRIVATE_WITH_EGRESS if self.has_nat else ec2.SubnetType.PRIVATE_ISOLATED
        )
        subnets = [
            ec2.SubnetConfiguration(name="Lambda", subnet_type=lambda_subnet_type, cidr_mask=22)
        ]
        subnets.append(
            ec2.SubnetConfiguration(
                name="Cache", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=26
            )
        )
        if self.has_nat:
            subnets.insert(
                0,
                ec2.SubnetConfiguration(
                    name="Public", subnet_type=ec2.SubnetType.PUBLIC, cidr_mask=24
                ),
            )

        self.vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr("10.40.0.0/16"),
            max_azs=props.max_azs,
            nat_gateways=props.nat_gateways,
            subnet_configuration=subnets,
            restrict_default_security_group=True,
        )
        self.lambda_subnets = ec2.SubnetSelection(subnet_group_name="Lambda")
        self.cache_subnets = ec2.SubnetSelection(subnet_group_name="Cache")

        # Tile bodies to and from S3 never cross the NAT.
        self.s3_endpoint = self.vpc.add_gateway_endpoint(
            "S3Endpoint",
            service=ec2.GatewayVpcEndpointAwsService.S3,
            subnets=[self.lambda_subnets],
        )
        self.secrets_endpoint = None
        if not self.has_nat:
            # No internet: the AUTH token is read at cold start through an interface endpoint.
            self.secrets_endpoint = self.vpc.add_interface_endpoint(
                "SecretsManagerEndpoint",
                service=ec2.InterfaceVpcEndpointAwsService.SECRETS_MANAGER,
                subnets=self.lambda_subnets,
                private_dns_enabled=True,
                open=False,  # only the Lambdas: see allow_endpoints_from()
            )

        # Rejected traffic only: enough to debug security groups, cheap to keep.
        flow_log_group = logs.LogGroup(
            self, "FlowLogs", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.vpc.add_flow_log(
            "FlowLog",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(flow_log_group),
            traffic_type=ec2.FlowLogTrafficType.REJECT,
        )

    def allow_endpoints_from(self, *peers: ec2.ISecurityGroup) -> None:
        """Admit these security groups to the interface endpoints (HTTPS)."""
        if self.secrets_endpoint is not None:
            for peer in peers:
                self.secrets_endpoint.connections.allow_default_port_from(
                    peer, "Secrets Manager from a tiler Lambda"
                )
