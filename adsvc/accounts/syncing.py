"""Queuing a sync of an ad account on someone's request, shared by the JSON API and the syncs page: who may, the
job it queues (one per account, kind and minute, so a double click queues one) and its audit entry."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Final

import asyncpg
from arq.connections import ArqRedis
from redis.exceptions import RedisError

from adsvc.accounts.queries import Account
from adsvc.accounts.schemas import SyncKind
from adsvc.audit.queries import insert_audit_entry
from adsvc.errors import Forbidden, ServiceUnavailable, ValidationFailed
from adsvc.requests import AuditOrigin

SYNC_ROLES: Final = frozenset({"owner", "manager"})
JOB_FOR_KIND: Final = {"structure": "sync_structure", "insights": "sync_insights", "backfill": "backfill_insights"}
DEFAULT_BACKFILL_DAYS: Final = 90


@dataclass(frozen=True, slots=True)
class SyncQueued:
    job_id: str
    kind: SyncKind
    queued: bool  # False: the same sync was already queued this minute


def may_sync(role: str | None) -> bool:
    return role in SYNC_ROLES


async def queue_sync(
    pg: asyncpg.Pool, queue: ArqRedis, *, account: Account, kind: SyncKind, days: int | None, origin: AuditOrigin
) -> SyncQueued:
    """Queue the job of `kind` for an account the caller is a member of (`account.role` is theirs); 403 for a role
    that cannot sync, 503 when the queue cannot be reached. Audited whether it queued a job or found one queued."""
    if not may_sync(account.role):
        raise Forbidden("only owners and managers can start a sync")
    args: list[object] = [account.id]
    if kind == "backfill":
        args.append(days or DEFAULT_BACKFILL_DAYS)
    elif days is not None:
        raise ValidationFailed.field(("body", "days"), "days applies to backfill only")
    # one job id per account and kind per minute: a double click queues one sync
    job_id = f"sync-{kind}:{account.id}:{int(time.time() // 60)}"
    try:
        job = await queue.enqueue_job(JOB_FOR_KIND[kind], *args, _job_id=job_id)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("the job queue is unavailable", retry_after=5) from exc
    await insert_audit_entry(
        pg,
        action="ad_account.sync",
        target_type="ad_account",
        target_id=account.id,
        details={"kind": kind, "days": days, "job_id": job_id, "queued": job is not None},
        **origin,
    )
    return SyncQueued(job_id=job_id, kind=kind, queued=job is not None)
