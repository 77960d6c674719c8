"""Alarms and a dashboard: the API, both Lambdas, ElastiCache and the tile cache's own counts.

Log groups belong to the constructs that write them (functions, API, VPC flow logs),
each with the configured retention; this construct only watches. Alarms notify the
SNS topic ``alarm_topic_arn`` when one is configured.

* API: 5xx. Lambdas: errors, throttles; tile: duration p99 near the timeout, concurrency
  near its cap (80 % of ``reserved_concurrency``, else of the default regional quota 1000).
* ElastiCache nodes (modes node and cluster; CloudWatch reports per node, so each alarm is
  a metric-math MIN/MAX/SUM over up to 10 nodes): CPU credits (t-class nodes), engine
  CPU, evictions, swap (the node short of memory: with ``allkeys-lru`` the dataset sits at
  ``maxmemory`` by design, so its percentage is graphed, not alarmed), connections.
  Serverless: ECPUs and data near the usage limits, throttled commands, evictions,
  connections.
* The cache's EMF metrics (namespace ``METRICS_NAMESPACE``, dimension ``service``): the HIT
  ratio ``hits / (hits + misses)`` over an hour, ERROR and BYPASS (Redis unreachable, the
  breaker open) counts.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_apigatewayv2 as apigwv2
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from constructs import Construct

from .cache_cluster import CacheCluster
from .config import StackConfig
from .functions import METRICS_NAMESPACE, TILE_SERVICE

PERIOD = Duration.minutes(5)
HOUR = Duration.hours(1)
# CloudWatch math takes at most 10 metrics per alarm.
NODES_PER_ALARM = 10
DEFAULT_ACCOUNT_CONCURRENCY = 1000
GT = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
LT = cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD

# The app's EMF counters this construct reads (handlers/observability.py COUNTERS).
EMF_HITS = "CacheHits"
EMF_MISSES = "CacheMisses"
EMF_BYPASSES = "CacheBypasses"
EMF_ERRORS = "CacheErrors"

# Thresholds (per 5 minutes unless said).
NODE_CPU_CREDITS_MIN = 30  # t4g.micro earns 12 an hour; at 0 it runs at its baseline share
ENGINE_CPU_MAX = 80  # percent
EVICTIONS_MAX = 5000  # sustained: the working set no longer fits
SWAP_MAX_BYTES = 50 * 1024 * 1024  # AWS's guidance for ElastiCache nodes
CONNECTIONS_MAX = 5000  # ~1 per Lambda instance and shard; a node takes 65,000
SERVERLESS_THROTTLED_MAX = 10
LIMIT_SHARE = 0.9  # of the serverless usage limits
CACHE_ERRORS_MAX = 20
CACHE_BYPASSES_MAX = 50
HIT_RATIO_MIN = 50  # percent, over an hour with at least HIT_RATIO_VOLUME lookups
HIT_RATIO_VOLUME = 300


@dataclass(frozen=True)
class MonitoringProps:
    config: StackConfig
    http_api: apigwv2.HttpApi
    tile_function: lambda_.Function
    admin_function: lambda_.Function
    cache: CacheCluster
    api_5xx_threshold: int = 5
    error_threshold: int = 5


def emf_metric(name: str, period: Duration = PERIOD) -> cloudwatch.Metric:
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": TILE_SERVICE},
        statistic="Sum",
        period=period,
    )


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: MonitoringProps) -> None:
        super().__init__(scope, construct_id)
        config = props.config
        self.stage = config.stage
        self.alarms: list[cloudwatch.Alarm] = []
        self._lambda_alarms(props)
        if props.cache.serverless_cache is not None:
            cache_widgets = self._serverless_alarms(props)
        else:
            cache_widgets = self._node_alarms(props)
        emf_widgets = self._emf_alarms()

        if config.alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", config.alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
                alarm.add_ok_action(cw_actions.SnsAction(topic))

        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=config.stack_name,
            default_interval=Duration.hours(6),
        )
        self.dashboard.add_widgets(*self._lambda_widgets(props))
        self.dashboard.add_widgets(*emf_widgets)
        self.dashboard.add_widgets(*cache_widgets)
        self.dashboard.add_widgets(
            cloudwatch.AlarmStatusWidget(title="Alarms", alarms=self.alarms, width=24)
        )

    # ------------------------------------------------------------------ Lambdas + API

    def _lambda_alarms(self, props: MonitoringProps) -> None:
        self._alarm(
            "Api5xx",
            props.http_api.metric_server_error(period=PERIOD, statistic="Sum"),
            props.api_5xx_threshold,
            "HTTP API 5xx responses",
        )
        for name, function in (("Tile", props.tile_function), ("Admin", props.admin_function)):
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=PERIOD, statistic="Sum"),
                props.error_threshold if name == "Tile" else 1,
                f"{name.lower()} Lambda errors",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=PERIOD, statistic="Sum"),
                1,
                f"{name.lower()} Lambda throttles",
            )
        timeout_ms = props.config.timeout * 1000
        self._alarm(
            "TileDurationP99",
            props.tile_function.metric_duration(period=PERIOD, statistic="p99"),
            int(timeout_ms * 0.8),
            f"tile Lambda p99 duration >= 80 % of its {props.config.timeout} s timeout",
            periods=3,
        )
        cap = props.config.reserved_concurrency or DEFAULT_ACCOUNT_CONCURRENCY
        self._alarm(
            "TileConcurrency",
            props.tile_function.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum"),
            max(1, int(cap * 0.8)),
            f"tile Lambda concurrency >= 80 % of {cap}",
        )

    def _lambda_widgets(self, props: MonitoringProps) -> list[cloudwatch.IWidget]:
        tile = props.tile_function
        return [
            cloudwatch.GraphWidget(
                title="API requests and errors",
                left=[
                    props.http_api.metric_count(period=PERIOD, statistic="Sum"),
                    props.http_api.metric_client_error(period=PERIOD, statistic="Sum"),
                    props.http_api.metric_server_error(period=PERIOD, statistic="Sum"),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Tile Lambda invocations, errors, throttles",
                left=[
                    tile.metric_invocations(period=PERIOD, statistic="Sum"),
                    tile.metric_errors(period=PERIOD, statistic="Sum"),
                    tile.metric_throttles(period=PERIOD, statistic="Sum"),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Tile Lambda duration (p50, p99)",
                left=[
                    tile.metric_duration(period=PERIOD, statistic="p50"),
                    tile.metric_duration(period=PERIOD, statistic="p99"),
                ],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Lambda concurrency",
                left=[
                    f.metric("ConcurrentExecutions", period=PERIOD, statistic="Maximum")
                    for f in (tile, props.admin_function)
                ],
                width=6,
            ),
        ]

    # ------------------------------------------------------------------ ElastiCache

    def _node_metrics(self, cache: CacheCluster, name: str, statistic: str):
        return [
            cloudwatch.Metric(
                namespace="AWS/ElastiCache",
                metric_name=name,
                dimensions_map={"CacheClusterId": node},
                statistic=statistic,
                period=PERIOD,
            )
            for node in cache.node_ids
        ]

    def _over_nodes(self, construct_id, cache, name, statistic, combine, threshold, what, op=GT):
        """One alarm per group of <= 10 nodes on ``combine`` (MIN/MAX/SUM) of their metric."""
        metrics = self._node_metrics(cache, name, statistic)
        for start in range(0, len(metrics), NODES_PER_ALARM):
            group = metrics[start : start + NODES_PER_ALARM]
            suffix = "" if start == 0 else str(start // NODES_PER_ALARM + 1)
            expression = cloudwatch.MathExpression(
                expression=f"{combine}([{', '.join(f'n{i}' for i in range(len(group)))}])",
                using_metrics={f"n{i}": m for i, m in enumerate(group)},
                label=f"{name} ({combine.lower()} over nodes)",
                period=PERIOD,
            )
            self._alarm(construct_id + suffix, expression, threshold, what, periods=3, op=op)
        return metrics

    def _node_alarms(self, props: MonitoringProps) -> list[cloudwatch.IWidget]:
        cache, config = props.cache, props.config
        if config.cache_burstable:
            self._over_nodes(
                "CacheCpuCredits", cache, "CPUCreditBalance", "Minimum", "MIN",
                NODE_CPU_CREDITS_MIN, "cache node CPU credits running out (t-class node)", op=LT,
            )  # fmt: skip
        self._over_nodes(
            "CacheEngineCpu", cache, "EngineCPUUtilization", "Maximum", "MAX",
            ENGINE_CPU_MAX, "cache engine CPU >= 80 %",
        )  # fmt: skip
        self._over_nodes(
            "CacheEvictions", cache, "Evictions", "Sum", "SUM",
            EVICTIONS_MAX, "cache evictions: the working set no longer fits",
        )  # fmt: skip
        self._over_nodes(
            "CacheMemory", cache, "SwapUsage", "Maximum", "MAX",
            SWAP_MAX_BYTES, "cache node swapping (> 50 MB): short of memory",
        )  # fmt: skip
        self._over_nodes(
            "CacheConnections", cache, "CurrConnections", "Maximum", "MAX",
            CONNECTIONS_MAX, f"cache connections >= {CONNECTIONS_MAX}",
        )  # fmt: skip

        def graph(title, name, statistic):
            return cloudwatch.GraphWidget(
                title=title, left=self._node_metrics(cache, name, statistic), width=6
            )

        widgets = [
            graph("Cache engine CPU %", "EngineCPUUtilization", "Maximum"),
            graph("Cache memory % of maxmemory", "DatabaseMemoryUsagePercentage", "Maximum"),
            graph("Cache evictions", "Evictions", "Sum"),
            graph("Cache connections", "CurrConnections", "Maximum"),
        ]
        if config.cache_burstable:
            widgets.append(graph("Cache CPU credits", "CPUCreditBalance", "Minimum"))
        return widgets

    def _serverless_metric(self, name: str, statistic: str) -> cloudwatch.Metric:
        return cloudwatch.Metric(
            namespace="AWS/ElastiCache",
            metric_name=name,
            dimensions_map={"clusterId": self._serverless_name},
            statistic=statistic,
            period=PERIOD,
        )

    def _serverless_alarms(self, props: MonitoringProps) -> list[cloudwatch.IWidget]:
        self._serverless_name = props.cache.serverless_name
        config = props.config
        metric = self._serverless_metric
        ecpu_limit = LIMIT_SHARE * config.cache_max_ecpu_per_second * PERIOD.to_seconds()
        bytes_limit = LIMIT_SHARE * config.cache_max_storage_gb * 10**9
        alarms = [
            ("CacheEcpu", metric("ElastiCacheProcessingUnits", "Sum"), int(ecpu_limit),
             "cache ECPUs >= 90 % of cache_max_ecpu_per_second"),
            ("CacheMemory", metric("BytesUsedForCache", "Maximum"), int(bytes_limit),
             "cache data >= 90 % of cache_max_storage_gb"),
            ("CacheThrottled", metric("ThrottledCmds", "Sum"), SERVERLESS_THROTTLED_MAX,
             "cache commands throttled (scaling or at the ECPU limit)"),
            ("CacheEvictions", metric("Evictions", "Sum"), EVICTIONS_MAX,
             "cache evictions: the working set no longer fits"),
            ("CacheConnections", metric("CurrConnections", "Maximum"), CONNECTIONS_MAX,
             f"cache connections >= {CONNECTIONS_MAX}"),
        ]  # fmt: skip
        for construct_id, m, threshold, what in alarms:
            self._alarm(construct_id, m, threshold, what, periods=3)
        return [
            cloudwatch.GraphWidget(title="Cache ECPUs", left=[alarms[0][1]], width=6),
            cloudwatch.GraphWidget(title="Cache data (bytes)", left=[alarms[1][1]], width=6),
            cloudwatch.GraphWidget(
                title="Cache throttled commands, evictions",
                left=[metric("ThrottledCmds", "Sum"), metric("Evictions", "Sum")],
                width=6,
            ),
            cloudwatch.GraphWidget(
                title="Cache read latency (us), connections",
                left=[metric("SuccessfulReadRequestLatency", "p99")],
                right=[metric("CurrConnections", "Maximum")],
                width=6,
            ),
        ]

    # ------------------------------------------------------------------ the cache's EMF

    def _emf_alarms(self) -> list[cloudwatch.IWidget]:
        self._alarm(
            "CacheErrors", emf_metric(EMF_ERRORS), CACHE_ERRORS_MAX, "X-Cache: ERROR responses"
        )
        self._alarm(
            "CacheBypasses",
            emf_metric(EMF_BYPASSES),
            CACHE_BYPASSES_MAX,
            "X-Cache: BYPASS responses (the cache unreachable, its breaker open)",
        )
        hits, misses = emf_metric(EMF_HITS, HOUR), emf_metric(EMF_MISSES, HOUR)
        ratio = cloudwatch.MathExpression(
            expression=(
                f"IF(FILL(h, 0) + FILL(m, 0) >= {HIT_RATIO_VOLUME}, "
                "100 * FILL(h, 0) / (FILL(h, 0) + FILL(m, 0)), 100)"
            ),
            using_metrics={"h": hits, "m": misses},
            label="cache HIT ratio %",
            period=HOUR,
        )
        self._alarm(
            "CacheHitRatio",
            ratio,
            HIT_RATIO_MIN,
            f"cache HIT ratio < {HIT_RATIO_MIN} % for 3 hours",
            periods=3,
            op=LT,
        )
        return [
            cloudwatch.GraphWidget(
                title="Tile cache: HIT, MISS, BYPASS, ERROR",
                left=[emf_metric(n) for n in (EMF_HITS, EMF_MISSES, EMF_BYPASSES, EMF_ERRORS)],
                width=12,
            ),
            cloudwatch.GraphWidget(title="Tile cache HIT ratio %", left=[ratio], width=12),
        ]

    # ------------------------------------------------------------------ helpers

    def _alarm(
        self,
        construct_id: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        what: str,
        *,
        periods: int = 1,
        op: cloudwatch.ComparisonOperator = GT,
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=periods,
            comparison_operator=op,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=f"TiTiler-EOPF {self.stage}: {what}",
        )
        self.alarms.append(alarm)
        return alarm
