"""argon2id password hashing, always off the event loop (each hash costs tens of milliseconds of CPU)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from adsvc.settings import Settings

T = TypeVar("T")


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


def _lower_thread_priority() -> None:
    # On Linux a thread is a schedulable task with its own nice value: hashing yields the CPU to the event loop.
    if sys.platform == "linux":
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)


def default_hash_threads() -> int:
    """Leave a core to the event loop: argon2 saturates whatever cores it gets."""
    return max(1, (os.cpu_count() or 2) - 1)


class PasswordHashing:
    """argon2id for the web app: a few dedicated low-priority threads, so a login storm queues hashes instead of
    starving the event loop (the default executor would run six at once on two cores)."""

    def __init__(self, hasher: PasswordHasher, *, threads: int) -> None:
        self.hasher = hasher
        self._executor = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="argon2", initializer=_lower_thread_priority
        )

    async def _run(self, func: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, func, *args)

    async def hash(self, password: str) -> str:
        return await self._run(self.hasher.hash, password)

    async def verify(self, stored_hash: str, password: str) -> bool:
        return await self._run(_verify, self.hasher, stored_hash, password)

    def needs_rehash(self, stored_hash: str) -> bool:
        return needs_rehash(self.hasher, stored_hash)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
