"""What every route module shares: the prefix, the problem responses, the RPC timeout."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import Query

from tentenone.errors import InvalidInput
from tentenone_gateway.problems import problem_responses
from tentenone_gateway.state import GatewayState

__all__ = [
    "PREFIX",
    "PRIVATE_PROBLEMS",
    "PUBLIC_PROBLEMS",
    "Timestamp",
    "parse_timestamp",
    "timeout",
]

#: ISO 8601 with a time zone (a number is not taken as Unix seconds)
Timestamp = Annotated[
    str,
    Query(
        pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})$",
        examples=["2030-01-04T08:00:00Z"],
    ),
]


def parse_timestamp(text: str | None, name: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{name}: not an ISO 8601 time: {text[:40]!r}", field=name) from None


PREFIX = "/api/v1"
#: every route may answer these (input, rate limit, body limits, what is behind it)
PUBLIC_PROBLEMS: dict[int | str, dict[str, Any]] = problem_responses(
    400, 404, 409, 413, 415, 422, 429, 502, 503, 504
)
#: routes that need a session token add these
PRIVATE_PROBLEMS: dict[int | str, dict[str, Any]] = {
    **PUBLIC_PROBLEMS,
    **problem_responses(401, 403),
}


def timeout(state: GatewayState) -> float:
    return state.settings.rpc_timeout_s
