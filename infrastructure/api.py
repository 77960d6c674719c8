"""HTTP API (payload 2.0) in front of the tile Lambda, with CORS, throttling, access logs,
and an optional CloudFront distribution.

Only GET and HEAD are routed (OPTIONS preflights are answered by API Gateway's CORS);
the admin Lambda is never reachable through the API. HTTP APIs decode
``isBase64Encoded`` bodies themselves: no binary media types are needed.

The CDN (``cloudfront=true``):

* CORS is answered at the edge by a response headers policy, on every response including
  those served from the edge cache: a tile first fetched without ``Origin`` (curl, an
  ``<img>``) and then requested by a browser ``fetch`` still carries
  ``Access-Control-Allow-Origin``. ``Origin`` stays out of the cache key, so every site
  shares one cached copy of a tile (the alternative, ``Origin`` in the key, stores one copy
  per site and still breaks for the first ``Origin``-less request's copy).
* The cache policy keys on the path and every query parameter and takes each response's
  lifetime from the origin (``s-maxage`` wins over ``max-age`` at the edge); a response
  without ``Cache-Control`` is not kept (default TTL 0); ``max_ttl`` bounds any of them.
* The origin is locked to the distribution: CloudFront adds ``X-Origin-Verify`` with a
  value generated in Secrets Manager (written into the distribution through a
  ``{{resolve:secretsmanager:...}}`` dynamic reference, never in clear in the template);
  the app refuses requests without it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import jsii
from aws_cdk import Aws, Duration, Fn, RemovalPolicy
from aws_cdk import aws_apigateway as apigw
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_apigatewayv2_integrations as integrations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from constructs import Construct


@jsii.implements(apigwv2.IAccessLogSettings)
class _AccessLogSettings:
    def __init__(
        self, destination: apigwv2.IAccessLogDestination, format: apigw.AccessLogFormat
    ) -> None:  # noqa: A002
        self._destination = destination
        self._format = format

    @property
    def destination(self) -> apigwv2.IAccessLogDestination:
        return self._destination

    @property
    def format(self) -> apigw.AccessLogFormat:
        return self._format


ACCESS_LOG_FIELDS = {
    "requestId": "$context.requestId",
    "ip": "$context.identity.sourceIp",
    "requestTime": "$context.requestTime",
    "method": "$context.httpMethod",
    "path": "$context.path",
    "status": "$context.status",
    "protocol": "$context.protocol",
    "responseLength": "$context.responseLength",
    "responseLatency": "$context.responseLatency",
    "integrationLatency": "$context.integrationLatency",
    "integrationStatus": "$context.integrationStatus",
    "integrationError": "$context.integrationErrorMessage",
    "error": "$context.error.message",
}

ROUTE_METHODS = [apigwv2.HttpMethod.GET, apigwv2.HttpMethod.HEAD]
ORIGIN_VERIFY_HEADER = "X-Origin-Verify"


@dataclass(frozen=True)
class TileApiProps:
    function: lambda_.IFunction
    stage: str
    cors_origins: tuple[str, ...]
    throttle_rate: int
    throttle_burst: int
    log_retention: logs.RetentionDays
    removal_policy: RemovalPolicy
    cloudfront: bool = False
    cdn_max_ttl: int = 86400


class TileApi(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: TileApiProps) -> None:
        super().__init__(scope, construct_id)
        integration = integrations.HttpLambdaIntegration(
            "TileIntegration",
            props.function,
            payload_format_version=apigwv2.PayloadFormatVersion.VERSION_2_0,
        )
        self.http_api = apigwv2.HttpApi(
            self,
            "HttpApi",
            api_name=f"titiler-eopf-{props.stage}",
            description=f"TiTiler-EOPF {props.stage} tiles",
            create_default_stage=False,
            cors_preflight=apigwv2.CorsPreflightOptions(
                allow_origins=list(props.cors_origins),
                allow_methods=[
                    apigwv2.CorsHttpMethod.GET,
                    apigwv2.CorsHttpMethod.HEAD,
                    apigwv2.CorsHttpMethod.OPTIONS,
                ],
                allow_headers=["*"],
                expose_headers=["*"],
                max_age=Duration.days(1),
            ),
        )
        for path in ("/", "/{proxy+}"):
            self.http_api.add_routes(path=path, methods=ROUTE_METHODS, integration=integration)

        self.access_logs = logs.LogGroup(
            self, "AccessLogs", retention=props.log_retention, removal_policy=props.removal_policy
        )
        self.stage = apigwv2.HttpStage(
            self,
            "DefaultStage",
            http_api=self.http_api,
            stage_name="$default",
            auto_deploy=True,
            throttle=apigwv2.ThrottleSettings(
                rate_limit=props.throttle_rate, burst_limit=props.throttle_burst
            ),
            access_log_settings=_AccessLogSettings(
                apigwv2.LogGroupLogDestination(self.access_logs),
                apigw.AccessLogFormat.custom(json.dumps(ACCESS_LOG_FIELDS, separators=(",", ":"))),
            ),
        )
        self.url = self.stage.url

        self.distribution: cloudfront.Distribution | None = None
        self.origin_secret: secretsmanager.Secret | None = None
        if props.cloudfront:
            self.distribution = self._distribution(props)

    def _distribution(self, props: TileApiProps) -> cloudfront.Distribution:
        api_domain = Fn.select(
            2, Fn.split("/", self.http_api.api_endpoint)
        )  # https://<id>.execute-api...
        self.cache_policy = cloudfront.CachePolicy(
            self,
            "TileCachePolicy",
            comment=(
                f"TiTiler-EOPF {props.stage}: path + every query parameter; "
                "lifetime from the origin's s-maxage/max-age"
            ),
            default_ttl=Duration.seconds(0),  # no Cache-Control: not kept at the edge
            min_ttl=Duration.seconds(0),
            max_ttl=Duration.seconds(props.cdn_max_ttl),
            query_string_behavior=cloudfront.CacheQueryStringBehavior.all(),
            header_behavior=cloudfront.CacheHeaderBehavior.none(),
            cookie_behavior=cloudfront.CacheCookieBehavior.none(),
            enable_accept_encoding_gzip=True,
            enable_accept_encoding_brotli=True,
        )
        self.headers_policy = cloudfront.ResponseHeadersPolicy(
            self,
            "CorsPolicy",
            comment=f"TiTiler-EOPF {props.stage}: CORS answered at the edge for every client",
            cors_behavior=cloudfront.ResponseHeadersCorsBehavior(
                access_control_allow_origins=list(props.cors_origins),
                access_control_allow_methods=["GET", "HEAD", "OPTIONS"],
                access_control_allow_headers=["*"],
                access_control_expose_headers=["*"],
                access_control_allow_credentials=False,
                access_control_max_age=Duration.days(1),
                origin_override=True,
            ),
        )
        self.origin_secret = secretsmanager.Secret(
            self,
            "OriginVerifySecret",
            description=(
                f"TiTiler-EOPF {props.stage}: value of the {ORIGIN_VERIFY_HEADER} header "
                "CloudFront sends to the API (requests without it are refused)"
            ),
            generate_secret_string=secretsmanager.SecretStringGenerator(
                password_length=48, exclude_punctuation=True, include_space=False
            ),
            removal_policy=RemovalPolicy.DESTROY,
        )
        return cloudfront.Distribution(
            self,
            "Distribution",
            comment=f"TiTiler-EOPF {props.stage}",
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
            default_behavior=cloudfront.BehaviorOptions(
                origin=origins.HttpOrigin(
                    api_domain,
                    protocol_policy=cloudfront.OriginProtocolPolicy.HTTPS_ONLY,
                    origin_ssl_protocols=[cloudfront.OriginSslPolicy.TLS_V1_2],
                    # A dynamic reference, resolved by CloudFormation at deploy time.
                    custom_headers={
                        ORIGIN_VERIFY_HEADER: self.origin_secret.secret_value.unsafe_unwrap()
                    },
                ),
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD_OPTIONS,
                cached_methods=cloudfront.CachedMethods.CACHE_GET_HEAD_OPTIONS,
                cache_policy=self.cache_policy,
                response_headers_policy=self.headers_policy,
                origin_request_policy=cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
                compress=True,
            ),
        )

    @property
    def region(self) -> str:
        return Aws.REGION
