"""Graph API error classification (transient, throttle, data size, auth, permanent) and token redaction."""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from typing import Any

from facebook_business.exceptions import FacebookRequestError

from adsvc.graph.usage import parse_usage

REDACTED = "[REDACTED]"
DEFAULT_THROTTLE_SECONDS = 60.0
# Meta's own blocks: development tier 300 s, standard 60 s; a quota block (17/2446079) can last up to about an hour.
QUOTA_BLOCK_SECONDS = 300.0

THROTTLE_CODES = frozenset({4, 17, 32, 613, *range(80000, 80015)})
AUTH_CODES = frozenset({102, 190})
TRANSIENT_CODES = frozenset({2, 960})
REPORT_NOT_READY = (2601, 1815107)
TOO_MUCH_DATA = (100, 1487534)
REDUCE_DATA_TEXT = "reduce the amount of data"

_QUERY_SECRET = re.compile(
    r"(?P<key>access_token|appsecret_proof|client_secret|fb_exchange_token|input_token)"
    r"(?P<sep>=|%3D|\"\s*:\s*\"|'\s*:\s*')(?P<value>[^&\s\"'#]+)",
    re.IGNORECASE,
)
_BEARER = re.compile(r"(?P<key>Bearer\s+)(?P<value>[A-Za-z0-9._~+/=|-]+)", re.IGNORECASE)
# Meta user and system-user tokens start with EAA; app tokens are `<app id>|<secret>`.
_TOKEN_SHAPE = re.compile(r"\bEAA[A-Za-z0-9]{16,}|\b\d{6,}\|[A-Za-z0-9_-]{16,}")


class ErrorKind(enum.StrEnum):
    TRANSIENT = "transient"
    THROTTLE = "throttle"
    REDUCE_DATA = "reduce_data"
    TOO_MUCH_DATA = "too_much_data"
    AUTH = "auth"
    PERMANENT = "permanent"


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """`text` with the given secrets, token-shaped strings and token-carrying query values replaced by [REDACTED]."""
    # Longest first so a secret containing another is removed whole.
    for secret in sorted((s for s in secrets if s and len(s) >= 4), key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    text = _QUERY_SECRET.sub(lambda m: f"{m['key']}{m['sep']}{REDACTED}", text)
    text = _BEARER.sub(lambda m: f"{m['key']}{REDACTED}", text)
    return _TOKEN_SHAPE.sub(REDACTED, text)


class GraphError(Exception):
    """A failed Graph call, classified; every text field is already redacted."""

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        http_status: int = 0,
        code: int | None = None,
        subcode: int | None = None,
        error_type: str | None = None,
        user_title: str | None = None,
        user_message: str | None = None,
        fbtrace_id: str | None = None,
        retry_after: float | None = None,
        is_transient: bool = False,
    ) -> None:
        self.kind = kind
        self.message = redact(message)
        self.http_status = http_status
        self.code = code
        self.subcode = subcode
        self.error_type = error_type
        self.user_title = redact(user_title) if user_title else user_title
        self.user_message = redact(user_message) if user_message else user_message
        self.fbtrace_id = fbtrace_id
        self.retry_after = retry_after
        self.is_transient = is_transient
        super().__init__(str(self))

    def __str__(self) -> str:
        code = "-" if self.code is None else str(self.code)
        if self.subcode is not None:
            code += f"/{self.subcode}"
        text = f"Graph {self.kind.value} error {code} (HTTP {self.http_status}): {self.message}"
        if self.retry_after is not None:
            text += f" [retry after {self.retry_after:.0f}s]"
        return text

    def __repr__(self) -> str:
        return f"GraphError({self})"

    @classmethod
    def network(cls, exc: BaseException, *, secrets: Iterable[str | None] = ()) -> GraphError:
        """A request that got no HTTP answer (connection refused or reset, timeout): transient."""
        detail = redact(str(exc), secrets)
        name = type(exc).__name__
        return cls(ErrorKind.TRANSIENT, f"{name}: {detail}" if detail else name)

    def as_dict(self) -> dict[str, Any]:
        """The redacted fields, for logs, sync_runs rows and status pages."""
        return {
            "kind": self.kind.value,
            "http_status": self.http_status,
            "code": self.code,
            "subcode": self.subcode,
            "message": self.message,
            "user_title": self.user_title,
            "fbtrace_id": self.fbtrace_id,
            "retry_after": self.retry_after,
        }


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _kind(http_status: int, code: int | None, subcode: int | None, message: str, is_transient: bool) -> ErrorKind:
    if code is None:
        # No Graph error object at all: a proxy or load balancer answered.
        if http_status == 429:
            return ErrorKind.THROTTLE
        return ErrorKind.TRANSIENT if http_status >= 500 else ErrorKind.PERMANENT
    if code == 1:
        if REDUCE_DATA_TEXT in message.lower():
            return ErrorKind.REDUCE_DATA
        return ErrorKind.TRANSIENT if http_status >= 500 or is_transient else ErrorKind.PERMANENT
    if code in TRANSIENT_CODES or (code, subcode) == REPORT_NOT_READY:
        return ErrorKind.TRANSIENT
    if code in THROTTLE_CODES:
        return ErrorKind.THROTTLE
    if (code, subcode) == TOO_MUCH_DATA:
        return ErrorKind.TOO_MUCH_DATA
    if code in AUTH_CODES:
        return ErrorKind.AUTH
    # Meta's own is_transient flag on a code we do not list is the best signal there is.
    return ErrorKind.TRANSIENT if is_transient else ErrorKind.PERMANENT


def throttle_wait(
    code: int | None,
    headers: Mapping[str, str],
    *,
    account_id: str | None,
    default_seconds: float = DEFAULT_THROTTLE_SECONDS,
) -> float:
    """Seconds to stay away after a throttle: Meta's announced ETA when given, else a per-code default."""
    usage = parse_usage(headers, account_id=account_id)
    if usage.eta_seconds > 0:
        return usage.eta_seconds
    if code in (17, 613):
        # Ad-account score blocks: the account header says when the score resets; never less than the tier block.
        return max(usage.account_reset_seconds, QUOTA_BLOCK_SECONDS if code == 17 else default_seconds)
    return default_seconds


def classify(
    http_status: int,
    body: str,
    headers: Mapping[str, str],
    *,
    account_id: str | None,
    secrets: Iterable[str | None] = (),
    default_throttle_seconds: float = DEFAULT_THROTTLE_SECONDS,
) -> GraphError:
    """Turn a failed Graph answer into a GraphError; the body is parsed by the SDK's FacebookRequestError."""
    secrets = tuple(secrets)
    try:
        parsed = FacebookRequestError("Graph request failed", {}, http_status, dict(headers), body)
        code = _int_or_none(parsed.api_error_code())
        subcode = _int_or_none(parsed.api_error_subcode())
        raw_message = parsed.api_error_message()
        error_type = parsed.api_error_type()
        is_transient = bool(parsed.api_transient_error())
        error = parsed.body().get("error") if isinstance(parsed.body(), dict) else None
    except (TypeError, ValueError, AttributeError):
        # The SDK chokes on some shapes (a JSON scalar body, a non-JSON error_data): treat as no Graph error object.
        code = subcode = None
        raw_message = error_type = None
        is_transient = False
        error = None
    details = error if isinstance(error, dict) else {}
    message = raw_message if isinstance(raw_message, str) else (body[:200] if body else f"HTTP {http_status}")
    message = redact(message, secrets)
    kind = _kind(http_status, code, subcode, message, is_transient)
    retry_after = None
    if kind is ErrorKind.THROTTLE:
        retry_after = throttle_wait(code, headers, account_id=account_id, default_seconds=default_throttle_seconds)
    user_title = details.get("error_user_title")
    user_message = details.get("error_user_msg")
    trace = details.get("fbtrace_id")
    return GraphError(
        kind,
        message,
        http_status=http_status,
        code=code,
        subcode=subcode,
        error_type=error_type if isinstance(error_type, str) else None,
        user_title=redact(user_title, secrets) if isinstance(user_title, str) else None,
        user_message=redact(user_message, secrets) if isinstance(user_message, str) else None,
        fbtrace_id=trace if isinstance(trace, str) else None,
        retry_after=retry_after,
        is_transient=is_transient,
    )
