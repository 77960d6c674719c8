"""Where the CLI's cache commands go: this machine's settings, or a deployed stack.

Both take the admin Lambda's payloads (see ``titiler_eopf.admin.actions``) and return
its replies, so one payload builder serves both:

* ``LocalAdmin``: the admin service in this process (the one the admin Lambda runs), on
  the cache the local ``TITILER_EOPF_CACHE_*`` settings describe (a Redis/S3 cache shared
  with the server; the ``memory`` backend lives inside the server process and is empty here);
* ``LambdaAdmin``: ``lambda:InvokeFunction`` on the deployed admin function (boto3).

``stack_outputs`` reads ``AdminFunctionName`` and ``ApiUrl`` from CloudFormation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any


class AdminError(RuntimeError):
    """The target could not be reached or answered something that is not a reply."""


class LocalAdmin:
    name = "local settings"

    def __init__(self) -> None:
        from titiler_eopf.admin.service import AdminService
        from titiler_eopf.settings import SettingsError, load_settings

        try:
            settings = load_settings()  # fail here, naming the variable, on a bad setting
        except SettingsError as exc:
            raise AdminError(str(exc).replace("\n", " ")) from None
        self.service = AdminService.from_settings(settings)

    def __call__(self, event: dict) -> dict:
        """The admin Lambda's reply, without its CloudWatch JSON logs (they would be
        printed on the terminal)."""
        return self.service.reply(event)


def _aws_error(exc: Exception) -> str:
    """One line for what boto3 raises (no credentials, unknown function, denied, ...)."""
    response = getattr(exc, "response", None)
    if isinstance(response, dict) and "Error" in response:
        error = response["Error"]
        return f"{error.get('Code', type(exc).__name__)}: {error.get('Message', '')}".strip()
    return f"{type(exc).__name__}: {exc}"


def boto3_invoke(
    function_name: str, payload: bytes, region: str | None
) -> tuple[bytes, str | None]:
    """``lambda:InvokeFunction`` (synchronous): the reply payload and FunctionError."""
    import boto3
    from botocore.config import Config

    # A seed slice or a purge may run up to the function's 15 min; never retried (not idempotent).
    config = Config(connect_timeout=10, read_timeout=900, retries={"max_attempts": 0})
    client = boto3.client("lambda", region_name=region, config=config)
    response = client.invoke(FunctionName=function_name, Payload=payload)
    return response["Payload"].read(), response.get("FunctionError")


class LambdaAdmin:
    # How a payload reaches the function. Tests swap in the admin handler called
    # directly: no Lambda runtime runs here (moto would need Docker to run one).
    transport: Callable[[str, bytes, str | None], tuple[bytes, str | None]] = staticmethod(
        boto3_invoke
    )

    def __init__(self, function_name: str, region: str | None = None):
        self.function_name = function_name
        self.name = f"admin Lambda {function_name}"
        self.region = region

    def __call__(self, event: dict) -> dict:
        try:
            payload, function_error = self.transport(
                self.function_name, json.dumps(event).encode(), self.region
            )
        except Exception as exc:  # noqa: BLE001 - botocore's errors share no useful base class
            raise AdminError(f"cannot invoke {self.function_name}: {_aws_error(exc)}") from None
        try:
            reply = json.loads(payload or b"null")
        except ValueError:
            raise AdminError(
                f"{self.function_name} answered something that is not JSON: {payload[:200]!r}"
            ) from None
        if function_error:
            message = reply.get("errorMessage") if isinstance(reply, dict) else reply
            raise AdminError(f"{self.function_name} failed: {message}")
        if not isinstance(reply, dict):
            raise AdminError(f"{self.function_name} answered {reply!r}, not an admin reply")
        return reply


def stack_outputs(stack_name: str, region: str | None = None) -> dict[str, str]:
    from titiler_eopf import aws

    try:
        cloudformation = aws.client(
            "cloudformation", region=region, connect_timeout=5, read_timeout=30, attempts=3
        )
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except Exception as exc:  # noqa: BLE001
        raise AdminError(f"cannot read stack {stack_name}: {_aws_error(exc)}") from None
    outputs = (
        {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])} if stacks else {}
    )
    if not outputs:
        raise AdminError(f"stack {stack_name} has no outputs (not deployed by this project?)")
    return outputs


def require_output(outputs: dict[str, str], key: str, stack_name: str) -> str:
    if key not in outputs:
        raise AdminError(
            f"stack {stack_name} has no output {key} (outputs: {', '.join(sorted(outputs))})"
        )
    return outputs[key]


def reply_body(reply: Any) -> dict:
    """The admin reply without its envelope; an error reply raises ``AdminError``."""
    if not isinstance(reply, dict) or "ok" not in reply:
        raise AdminError(f"unexpected reply: {str(reply)[:200]}")
    if not reply["ok"]:
        error = reply.get("error") or {}
        raise AdminError(f"{error.get('type', 'Error')}: {error.get('message', 'unknown error')}")
    return {k: v for k, v in reply.items() if k != "ok"}
