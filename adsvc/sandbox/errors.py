"""Graph API errors as the sandbox raises them, in Meta's exact envelope; no I/O."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


def fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)[:22]


@dataclass(slots=True)
class GraphError(Exception):
    """One Graph error; `envelope()` is the JSON body Meta sends, `status` the HTTP status that goes with it."""

    message: str
    code: int
    subcode: int | None = None
    type: str = "OAuthException"
    status: int = 400
    is_transient: bool = False
    user_title: str | None = None
    user_msg: str | None = None
    # Throttles say when access comes back (seconds); the usage headers carry it in minutes.
    retry_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def envelope(self, trace_id: str) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        error.update(self.extra)
        error["fbtrace_id"] = trace_id
        return {"error": error}


def invalid_parameter(message: str, subcode: int | None = None) -> GraphError:
    return GraphError(f"(#100) {message}", 100, subcode)


def no_such_object(object_id: str, method: str = "get") -> GraphError:
    return GraphError(
        f"Unsupported {method} request. Object with ID '{object_id}' does not exist, cannot be loaded due to missing "
        "permissions, or does not support this operation. Please read the Graph API documentation at "
        "https://developers.facebook.com/docs/graph-api",
        100,
        33,
        type="GraphMethodException",
    )


def unknown_path(components: str) -> GraphError:
    return GraphError(f"Unknown path components: /{components}", 2500)


def nonexisting_field(name: str, node_type: str) -> GraphError:
    return invalid_parameter(f"Tried accessing nonexisting field ({name}) on node type ({node_type})")


def token_error(subcode: int | None = None) -> GraphError:
    if subcode == 463:
        message = "Error validating access token: Session has expired."
    elif subcode == 460:
        message = (
            "Error validating access token: The session has been invalidated because the user changed their "
            "password or Facebook has changed the session for security reasons."
        )
    elif subcode == 458:
        message = "Error validating access token: The user has not authorized application."
    else:
        message = "Invalid OAuth access token - Cannot parse access token"
    return GraphError(message, 190, subcode)


def missing_token() -> GraphError:
    return GraphError("An access token is required to request this resource.", 190)


def bad_appsecret_proof() -> GraphError:
    return GraphError("Invalid appsecret_proof provided in the API argument", 100, type="GraphMethodException")


def transient(code: int) -> GraphError:
    if code == 2:
        return GraphError(
            "An unexpected error has occurred. Please retry your request later.", 2, status=503, is_transient=True
        )
    return GraphError("An unknown error occurred", 1, 99, status=500, is_transient=True)


def reduce_data() -> GraphError:
    return GraphError(
        "Please reduce the amount of data you're asking for, then retry your request", 1, status=500, is_transient=False
    )


def too_much_data(days: int, limit: int) -> GraphError:
    return invalid_parameter(
        f"Too much data: the query covers {days} days at the ad level, more than the {limit} this call can process. "
        "Reduce the date range or split the query.",
        1487534,
    )


def throttle(code: int, seconds: float) -> GraphError:
    """The throttle errors Meta answers with, by code; `seconds` is how long the block still lasts."""
    if code == 4:
        error = GraphError("(#4) Application request limit reached", 4, is_transient=True)
    elif code == 17:
        error = GraphError(
            "(#17) User request limit reached",
            17,
            2446079,
            is_transient=True,
            user_title="Ad Account Has Too Many API Calls",
            user_msg="There have been too many calls from this ad-account. Please wait a bit and try again.",
        )
    elif code == 613:
        error = GraphError(
            "(#613) Calls to this api have exceeded the rate limit.",
            613,
            1487742,
            is_transient=True,
            user_title="Too Many Calls",
            user_msg="There have been too many calls from this ad-account. Wait a bit and try again.",
        )
    elif code == 80000:
        error = GraphError(
            "(#80000) There have been too many calls from this ad-account. Wait a bit and try again. For more info, "
            "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-insights.",
            80000,
            2446079,
            is_transient=True,
        )
    elif code == 80004:
        error = GraphError(
            "(#80004) There have been too many calls to this ad-account. Wait a bit and try again. For more info, "
            "please refer to https://developers.facebook.com/docs/graph-api/overview/rate-limiting#ads-management.",
            80004,
            2446079,
            is_transient=True,
        )
    else:
        raise ValueError(f"no throttle with code {code}")
    error.retry_seconds = seconds
    return error


THROTTLE_CODES = (4, 17, 613, 80000, 80004)


def budget_change_limit(seconds: float) -> GraphError:
    error = GraphError(
        "(#17) User request limit reached: this ad set's budget has been changed too many times. At most 4 budget "
        "changes per ad set per hour are allowed; try again later.",
        17,
        is_transient=False,
        user_title="Too Many Budget Changes",
        user_msg="You have changed this ad set's budget too many times in the last hour. Wait an hour and try again.",
    )
    error.retry_seconds = seconds
    return error


def report_not_ready() -> GraphError:
    return GraphError(
        "(#2601) Error accessing adreport job: the report is not complete yet", 2601, 1815107, is_transient=True
    )


def beyond_37_months() -> GraphError:
    return GraphError("(#3018) The start date of the time range cannot be beyond 37 months from the current date", 3018)
