"""API Gateway HTTP API (payload format 2.0) events, shaped as AWS documents them:
https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

ITEM = "S2A_MSIL2A_20251008T100041_N0511_R122_T32TQM_20251008T122613"
RGB_QUERY = [
    ("variables", "/measurements/reflectance:b04"),
    ("variables", "/measurements/reflectance:b03"),
    ("variables", "/measurements/reflectance:b02"),
    ("rescale", "0,1"),
]


def http_api_event(
    path: str,
    query: list[tuple[str, str]] | str = (),
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    cookies: list[str] | None = None,
    stage: str = "$default",
) -> dict:
    raw_query = query if isinstance(query, str) else urlencode(list(query))
    pairs = parse_qsl(raw_query, keep_blank_values=True)
    # API Gateway joins repeated parameters with commas in queryStringParameters;
    # only rawQueryString keeps them apart (and in order).
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    raw_path = path if stage == "$default" else f"/{stage}{path}"
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": {
            "accept": "*/*",
            "accept-encoding": "gzip, deflate, br",
            "host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "user-agent": "pytest",
            "x-forwarded-for": "192.0.2.10",
            "x-forwarded-port": "443",
            "x-forwarded-proto": "https",
            **{k.lower(): v for k, v in (headers or {}).items()},
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "abc123",
            "http": {
                "method": method,
                "path": raw_path,
                "protocol": "HTTP/1.1",
                "sourceIp": "192.0.2.10",
                "userAgent": "pytest",
            },
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "routeKey": "$default",
            "stage": stage,
            "time": "24/Nov/2026:20:00:00 +0000",
            "timeEpoch": 1795550400000,
        },
        "isBase64Encoded": False,
    }
    if joined:
        event["queryStringParameters"] = joined
    if cookies:
        event["cookies"] = cookies
    return event


class FakeContext:
    """The few attributes of the Lambda context object that logging reads."""

    function_name = "titiler-eopf-tile"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:eu-west-1:123456789012:function:titiler-eopf-tile"
    memory_limit_in_mb = 3008
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    log_group_name = "/aws/lambda/titiler-eopf-tile"
    log_stream_name = "2026/11/24/[$LATEST]abcdef"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 28000
