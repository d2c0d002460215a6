"""The authenticated caller of a request, as proven by its access token."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    email: str
    is_admin: bool
    jti: str
    issued_at: float
    expires_at: int
