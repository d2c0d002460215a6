"""Access tokens: HS256 JWTs with a pinned algorithm, required claims and a `kid` for key rotation. No I/O."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

import jwt

from adsvc.auth.principal import Principal
from adsvc.settings import Settings

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "nbf", "exp", "jti"]
LEEWAY_SECONDS = 5


class InvalidToken(Exception):
    """The token is malformed, forged, expired, not yet valid, or not for us."""


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    jti: str
    expires_in: int


def issue_access_token(
    settings: Settings, *, user_id: int, email: str, is_admin: bool, now: float | None = None
) -> IssuedToken:
    now = time.time() if now is None else now
    lifetime = settings.jwt_expiration_minutes * 60
    jti = os.urandom(16).hex()
    claims = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(user_id),
        # Millisecond precision, so a token minted just after a password change is not taken for an older one.
        "iat": round(now, 3),
        "nbf": int(now),
        "exp": int(now) + lifetime,
        "jti": jti,
        "email": email,
        "adm": is_admin,
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM, headers={"kid": settings.jwt_key_id})
    return IssuedToken(token=token, jti=jti, expires_in=lifetime)


class TokenVerifier:
    """Verifies access tokens, remembering ones already verified so a token's signature is checked once.

    A token never changes, so its verified claims can be reused until it expires; what can change (revocation)
    is checked in Redis on every request regardless. The memory is bounded and oldest-first evicted.
    """

    def __init__(self, settings: Settings, *, max_entries: int = 10_000) -> None:
        self._settings = settings
        self._max_entries = max_entries
        self._verified: dict[str, Principal] = {}

    def verify(self, token: str, *, now: float | None = None) -> Principal:
        principal = self._verified.get(token)
        if principal is None:
            principal = decode_access_token(token, self._settings)
            if len(self._verified) >= self._max_entries:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = principal
            return principal
        now = time.time() if now is None else now
        if now >= principal.expires_at + LEEWAY_SECONDS:
            del self._verified[token]
            raise InvalidToken("token has expired")
        return principal


def decode_access_token(token: str, settings: Settings) -> Principal:
    try:
        header = jwt.get_unverified_header(token)
        kid = header.get("kid")
        key = settings.jwt_keys.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise InvalidToken("unknown key id")
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": REQUIRED_CLAIMS, "verify_signature": True, "strict_aud": True},
            leeway=LEEWAY_SECONDS,
        )
        return Principal(
            user_id=int(claims["sub"]),
            email=str(claims.get("email", "")),
            is_admin=claims.get("adm") is True,
            jti=str(claims["jti"]),
            issued_at=float(claims["iat"]),
            expires_at=int(claims["exp"]),
        )
    except (jwt.PyJWTError, ValueError, TypeError, KeyError) as exc:
        raise InvalidToken(str(exc)) from None
