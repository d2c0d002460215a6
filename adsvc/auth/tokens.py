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
            leeway=5,
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
