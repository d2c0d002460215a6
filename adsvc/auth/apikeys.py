"""API keys for machine clients: random keys shown once, stored only as SHA-256. No I/O."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

KEY_PREFIX = "adsvc_"


@dataclass(frozen=True, slots=True)
class NewKey:
    key: str
    prefix: str
    digest: bytes


def new_api_key() -> NewKey:
    public = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{public}_{secrets.token_urlsafe(32)}"
    return NewKey(key=key, prefix=f"{KEY_PREFIX}{public}", digest=key_digest(key))


def key_digest(key: str) -> bytes:
    # The key has 256 random bits, so a fast hash is enough; argon2 here would only slow every export call down.
    return hashlib.sha256(key.encode()).digest()
