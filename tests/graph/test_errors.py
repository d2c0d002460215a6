from __future__ import annotations

import json
import logging

import pytest

from adsvc.graph.errors import REDACTED, ErrorKind, GraphError, classify, redact

TOKEN = "EAAGm0PX4ZCpsBAKzZBZCxZBZCa1b2c3d4e5f6g7h8i9j0"


def body(code: int, subcode: int | None = None, message: str = "boom", **extra: object) -> str:
    error: dict[str, object] = {"message": message, "type": "OAuthException", "code": code, "fbtrace_id": "AbC"}
    if subcode is not None:
        error["error_subcode"] = subcode
    error.update(extra)
    return json.dumps({"error": error})


# Every row of graph-api.md's error table, plus the edges the brief names.
TABLE = [
    (500, body(1, message="An unknown error occurred"), ErrorKind.TRANSIENT),
    (
        500,
        body(1, message="Please reduce the amount of data you're asking for, then retry your request"),
        ErrorKind.REDUCE_DATA,
    ),
    (
        400,
        body(1, message="Please reduce the amount of data you're asking for, then retry your request"),
        ErrorKind.REDUCE_DATA,
    ),
    (400, body(1, message="An unknown error occurred"), ErrorKind.PERMANENT),
    (503, body(2, message="Service temporarily unavailable"), ErrorKind.TRANSIENT),
    (400, body(4, message="Application request limit reached"), ErrorKind.THROTTLE),
    (400, body(17, 2446079, message="User request limit reached"), ErrorKind.THROTTLE),
    (400, body(32, message="Page request limit reached"), ErrorKind.THROTTLE),
    (400, body(613, 1487742, message="There have been too many calls from this ad-account"), ErrorKind.THROTTLE),
    (400, body(80000), ErrorKind.THROTTLE),
    (400, body(80004, 2446079), ErrorKind.THROTTLE),
    (400, body(80014), ErrorKind.THROTTLE),
    (400, body(100, message="Invalid parameter"), ErrorKind.PERMANENT),
    (400, body(100, 33, message="Unsupported get request. Object does not exist"), ErrorKind.PERMANENT),
    (400, body(100, 1487534, message="too much data"), ErrorKind.TOO_MUCH_DATA),
    (400, body(102, message="Session key invalid"), ErrorKind.AUTH),
    (400, body(190, message="Invalid OAuth access token"), ErrorKind.AUTH),
    (400, body(190, 458, message="App not installed"), ErrorKind.AUTH),
    (400, body(190, 460, message="Password changed"), ErrorKind.AUTH),
    (400, body(190, 463, message="Session has expired"), ErrorKind.AUTH),
    (403, body(10, message="Permission denied"), ErrorKind.PERMANENT),
    (403, body(200, message="Permissions error"), ErrorKind.PERMANENT),
    (400, body(294, message="Managing advertisements requires ads_management"), ErrorKind.PERMANENT),
    (500, body(960, message="Request aborted. This could happen if a dependent request failed"), ErrorKind.TRANSIENT),
    (400, body(2601, 1815107, message="Report not ready"), ErrorKind.TRANSIENT),
    (400, body(3018, message="The start date of the time range cannot be beyond 37 months"), ErrorKind.PERMANENT),
    (400, body(123456, message="never seen before"), ErrorKind.PERMANENT),
    (400, body(123456, message="Meta says transient", is_transient=True), ErrorKind.TRANSIENT),
    (502, "<html>Bad Gateway</html>", ErrorKind.TRANSIENT),
    (504, "", ErrorKind.TRANSIENT),
    (429, "Too Many Requests", ErrorKind.THROTTLE),
    (404, "not found", ErrorKind.PERMANENT),
    (500, '{"error": "an error as a bare string"}', ErrorKind.TRANSIENT),
    (500, "42", ErrorKind.TRANSIENT),
]


@pytest.mark.parametrize(("status", "text", "kind"), TABLE)
def test_classify_follows_the_error_table(status: int, text: str, kind: ErrorKind) -> None:
    error = classify(status, text, {}, account_id="123")
    assert error.kind is kind
    assert error.http_status == status
    assert (error.retry_after is not None) == (kind is ErrorKind.THROTTLE)


def test_classify_reads_every_field() -> None:
    text = body(17, 2446079, message="User request limit reached", error_user_title="Too many", error_user_msg="Wait")
    error = classify(400, text, {}, account_id="act_1")
    assert (error.code, error.subcode, error.message) == (17, 2446079, "User request limit reached")
    assert (error.error_type, error.user_title, error.user_message, error.fbtrace_id) == (
        "OAuthException", "Too many", "Wait", "AbC",
    )  # fmt: skip
    assert "17/2446079" in str(error) and "throttle" in str(error)


def test_throttle_waits_the_accounts_eta_in_minutes() -> None:
    usage = {
        "999": [{"type": "ads_management", "call_count": 100, "estimated_time_to_regain_access": 45}],
        "123": [
            {"type": "ads_insights", "call_count": 100, "estimated_time_to_regain_access": 7},
            {"type": "ads_management", "call_count": 30, "estimated_time_to_regain_access": 0},
        ],
    }
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage)}
    error = classify(400, body(80000), headers, account_id="act_123")
    assert error.kind is ErrorKind.THROTTLE
    assert error.retry_after == 7 * 60


def test_throttle_without_eta_uses_a_default_and_quota_blocks_wait_longer() -> None:
    assert classify(400, body(4), {}, account_id=None, default_throttle_seconds=42).retry_after == 42
    quota = classify(400, body(17, 2446079), {}, account_id="1")
    assert quota.retry_after is not None and quota.retry_after >= 300
    reset = {"x-ad-account-usage": json.dumps({"acc_id_util_pct": 100, "reset_time_duration": 900})}
    assert classify(400, body(17, 2446079), reset, account_id="1").retry_after == 900


def test_redact_removes_known_secrets_token_shapes_and_query_values() -> None:
    text = (
        f"GET https://graph.facebook.com/v26.0/act_1/ads?access_token={TOKEN}&appsecret_proof=abc123def&limit=2 "
        f"Authorization: Bearer sandbox-token-xyz; raw {TOKEN}; app token 1234567|abcdefghijklmnopqrst; "
        'json {"access_token": "opaque-secret-value"} my-own-secret'
    )
    cleaned = redact(text, ["my-own-secret", None, ""])
    for secret in (
        TOKEN,
        "abc123def",
        "sandbox-token-xyz",
        "abcdefghijklmnopqrst",
        "opaque-secret-value",
        "my-own-secret",
    ):
        assert secret not in cleaned
    assert "limit=2" in cleaned and cleaned.count(REDACTED) >= 6


def test_token_never_in_error_text_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    secret = "plain-sandbox-token-0123456789"
    text = body(190, message=f"Malformed access token {TOKEN} (also {secret})", error_user_msg=f"token {secret}")
    error = classify(400, text, {}, account_id="1", secrets=[secret])
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("adsvc.graph").warning("failed: %s %r", error, error)
    for rendered in (str(error), repr(error), json.dumps(error.as_dict()), caplog.text, error.user_message or ""):
        assert TOKEN not in rendered and secret not in rendered
    assert error.kind is ErrorKind.AUTH


def test_network_error_is_transient_and_redacted() -> None:
    error = GraphError.network(OSError(f"reset while sending access_token={TOKEN}"))
    assert error.kind is ErrorKind.TRANSIENT and error.code is None
    assert TOKEN not in str(error) and "OSError" in str(error)
