"""argon2id password hashing, always off the event loop (each hash costs tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio
import secrets

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from adsvc.settings import Settings


def password_hasher(settings: Settings) -> PasswordHasher:
    return PasswordHasher(
        time_cost=settings.argon2_time_cost,
        memory_cost=settings.argon2_memory_cost_kib,
        parallelism=settings.argon2_parallelism,
        type=Type.ID,
    )


async def hash_password(hasher: PasswordHasher, password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


async def dummy_password_hash(hasher: PasswordHasher) -> str:
    return await hash_password(hasher, secrets.token_urlsafe(24))


def _verify(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    try:
        return hasher.verify(stored_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


async def verify_password(hasher: PasswordHasher, stored_hash: str, password: str) -> bool:
    return await asyncio.to_thread(_verify, hasher, stored_hash, password)


def needs_rehash(hasher: PasswordHasher, stored_hash: str) -> bool:
    try:
        return hasher.check_needs_rehash(stored_hash)
    except InvalidHashError:
        return True
