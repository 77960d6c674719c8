"""AWS Lambda entry points: ``tile.handler`` (HTTP API) and ``admin.handler`` (direct invoke)."""
