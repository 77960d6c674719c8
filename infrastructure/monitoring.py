"""Alarms: API 5xx, Lambda errors and throttles (both functions).

Log groups belong to the constructs that write them (functions, API, VPC flow logs),
each with the configured retention; this construct only watches. Alarms notify the
SNS topic ``alarm_topic_arn`` when one is configured.
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


@dataclass(frozen=True)
class MonitoringProps:
    stage: str
    http_api: apigwv2.HttpApi
    tile_function: lambda_.Function
    admin_function: lambda_.Function
    alarm_topic_arn: str | None = None
    api_5xx_threshold: int = 5
    error_threshold: int = 5


class Monitoring(Construct):
    def __init__(self, scope: Construct, construct_id: str, props: MonitoringProps) -> None:
        super().__init__(scope, construct_id)
        period = Duration.minutes(5)
        self.alarms: list[cloudwatch.Alarm] = []

        self._alarm(
            "Api5xx",
            props.http_api.metric_server_error(period=period, statistic="Sum"),
            props.api_5xx_threshold,
            f"TiTiler-EOPF {props.stage}: HTTP API 5xx responses",
        )
        for name, function in (("Tile", props.tile_function), ("Admin", props.admin_function)):
            self._alarm(
                f"{name}Errors",
                function.metric_errors(period=period, statistic="Sum"),
                props.error_threshold if name == "Tile" else 1,
                f"TiTiler-EOPF {props.stage}: {name.lower()} Lambda errors",
            )
            self._alarm(
                f"{name}Throttles",
                function.metric_throttles(period=period, statistic="Sum"),
                1,
                f"TiTiler-EOPF {props.stage}: {name.lower()} Lambda throttles",
            )

        if props.alarm_topic_arn:
            topic = sns.Topic.from_topic_arn(self, "AlarmTopic", props.alarm_topic_arn)
            for alarm in self.alarms:
                alarm.add_alarm_action(cw_actions.SnsAction(topic))
                alarm.add_ok_action(cw_actions.SnsAction(topic))

    def _alarm(
        self, construct_id: str, metric: cloudwatch.IMetric, threshold: int, description: str
    ) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            metric=metric,
            threshold=threshold,
            evaluation_periods=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            alarm_description=description,
        )
        self.alarms.append(alarm)
        return alarm
