"""ApiError and its subclasses: an HTTP status, a machine-readable code, and a message safe to show a client."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def headers(self) -> dict[str, str]:
        return {}

    def body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def headers(self) -> dict[str, str]:
        return {"WWW-Authenticate": 'Bearer realm="adsvc"'}


class Forbidden(ApiError):
    status, code = 403, "forbidden"


class NotFound(ApiError):
    status, code = 404, "not_found"


class MethodNotAllowed(ApiError):
    status, code = 405, "method_not_allowed"

    def __init__(self, message: str, *, allowed: list[str]) -> None:
        super().__init__(message, details={"allowed": allowed})
        self.allowed = allowed

    def headers(self) -> dict[str, str]:
        return {"Allow": ", ".join(self.allowed)}


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "payload_too_large"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class ValidationFailed(ApiError):
    status, code = 422, "validation_failed"

    @classmethod
    def field(cls, loc: tuple[str, ...], message: str, *, kind: str = "value_error", code: str | None = None,
              summary: str | None = None) -> ValidationFailed:  # fmt: skip
        """One field's problem, in the same detail shape request validation uses."""
        return cls(summary or message, details=[{"loc": list(loc), "msg": message, "type": kind}], code=code)


class _RetryLater(ApiError):
    def __init__(self, message: str, *, retry_after: int, details: Any = None, code: str | None = None) -> None:
        super().__init__(message, details=details, code=code)
        self.retry_after = max(1, int(retry_after))

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)}


class TooManyRequests(_RetryLater):
    status, code = 429, "too_many_requests"


class ServiceUnavailable(_RetryLater):
    status, code = 503, "service_unavailable"
