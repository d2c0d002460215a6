"""Connecting an ad account, or replacing the token of one already connected: the one path that the HTTP endpoint
and `adsvc connect-account` (and `adsvc dev`) share, so every caller gets the same rules, audit and invalidation."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

import aiohttp
import asyncpg
from arq.connections import ArqRedis
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adsvc.accounts import queries
from adsvc.audit.queries import insert_audit_entry
from adsvc.crypto import TokenBox
from adsvc.errors import Conflict, ServiceUnavailable
from adsvc.graph.agent import FacebookAdsAgent, create_agent
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.cache import AgentCache
from adsvc.graph.invalidation import publish_invalidation
from adsvc.members.queries import insert_member, lock_account_members
from adsvc.members.roles import Connect, connect_outcome
from adsvc.settings import Settings

ASK_AN_OWNER = (
    "this ad account is already connected; ask one of its owners to add you as a member "
    "(only its owners and managers can replace its token)"
)


@dataclass(frozen=True, slots=True)
class Upstream:
    """What connecting needs besides the database: Meta, the token box, the job queue and the agent caches."""

    settings: Settings
    session: aiohttp.ClientSession
    breakers: BreakerRegistry
    box: TokenBox
    queue: ArqRedis
    # publishes the invalidation every process listens for
    redis: Redis
    # this process's own cache, dropped at once (None in a command-line process, which caches nothing)
    agents: AgentCache[FacebookAdsAgent] | None = None
    interactive: bool = False


@dataclass(frozen=True, slots=True)
class Actor:
    user_id: int
    label: str | None = None
    client_addr: str | None = None
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Connected:
    account: queries.Account  # with the actor's role
    created: bool
    job_ids: tuple[str, ...]


async def connect_account(
    pg: asyncpg.Pool,
    upstream: Upstream,
    *,
    account_id: str,
    access_token: str,
    actor: Actor,
    backfill_days: int = 0,
) -> Connected:
    """Validate the token with Meta, then either store a new account with the actor as its owner, or give an
    account already connected the new token if the actor is one of its owners or managers (cached agents are
    dropped in every process). Anyone else gets a 409 `ask_an_owner` and nothing changes. Then queue the first
    syncs (a structure sync, the insights lookback, and a backfill of `backfill_days` when asked).

    Raises GraphError or CircuitOpen when Meta refuses or cannot be reached, Conflict on a refusal, and
    ServiceUnavailable when the account was saved but the queue could not be told."""
    # Meta first: only someone whose token Meta accepts for this account learns whether adsvc already has it.
    agent = await create_agent(
        upstream.settings,
        session=upstream.session,
        breakers=upstream.breakers,
        account_id=account_id,
        access_token=access_token,
        interactive=upstream.interactive,
    )
    info = agent.account
    sealed = upstream.box.seal(access_token)
    refused_role: str | None = None
    async with pg.acquire() as conn:
        async with conn.transaction():
            created = await queries.insert_new_account(
                conn, info=info, token_ciphertext=sealed, connected_by=actor.user_id
            )
            access = None if created else await lock_account_members(conn, account_id=info.id, user_id=actor.user_id)
            outcome = connect_outcome(exists=created is None, role=access.role if access else None)
            if outcome is Connect.CREATE:
                await insert_member(conn, account_id=info.id, user_id=actor.user_id, role="owner")
                await _audit(conn, actor, info.id, action="ad_account.connect", after=_described(info, "stored"))
            elif outcome is Connect.ROTATE:
                before = await queries.account_by_id(conn, account_id=info.id)
                await queries.replace_token(conn, info=info, token_ciphertext=sealed)
                await _audit(
                    conn, actor, info.id, action="ad_account.token_rotate",
                    before={"token_status": before.token_status if before else None},
                    after=_described(info, "replaced"), details={"role": access.role if access else None},
                )  # fmt: skip
            else:
                refused_role = access.role if access else None
        if outcome is Connect.REFUSE:
            # outside the (unchanged) transaction: the refusal is recorded, nothing else is written
            await _audit(conn, actor, info.id, action="ad_account.token_rotate", outcome="failure",
                         details={"reason": "not_owner_or_manager", "role": refused_role})  # fmt: skip
            raise Conflict(ASK_AN_OWNER, code="ask_an_owner")
        account = await queries.account_for_user(conn, account_id=info.id, user_id=actor.user_id)
    assert account is not None
    job_ids = await _after_token_change(upstream, account.id, backfill_days=backfill_days, tag=actor.request_id)
    return Connected(account=account, created=outcome is Connect.CREATE, job_ids=job_ids)


def _described(info: queries.AccountInfo, token: str) -> dict[str, str]:
    return {"name": info.name, "currency": info.currency, "timezone": info.timezone_name, "token": token}


async def _audit(
    conn: asyncpg.Connection,
    actor: Actor,
    account_id: str,
    *,
    action: str,
    outcome: str = "success",
    before: Any = None,
    after: Any = None,
    details: Any = None,
) -> None:
    await insert_audit_entry(
        conn, action=action, actor_id=actor.user_id, actor_label=actor.label, target_type="ad_account",
        target_id=account_id, outcome=outcome, before=before, after=after, details=details,
        client_addr=actor.client_addr, request_id=actor.request_id,
    )  # fmt: skip


async def _after_token_change(
    upstream: Upstream, account_id: str, *, backfill_days: int, tag: str | None
) -> tuple[str, ...]:
    """No process may keep an agent built on the old token; then the first syncs with the new one."""
    if upstream.agents is not None:
        upstream.agents.invalidate(account_id)
    # one job id per connect: arq keeps a finished job's result (an hour) and refuses to queue its id again, so a
    # fixed id would make every reconnect in that hour queue nothing
    tag = tag or secrets.token_hex(8)
    jobs: list[tuple[str, str, tuple[object, ...], float | None]] = [
        ("sync_structure", f"sync-structure:{account_id}:connect:{tag}", (account_id,), None),
        ("sync_insights", f"sync-insights:{account_id}:connect:{tag}", (account_id,), None),
    ]
    if backfill_days:
        # after the structure and the recent weeks: one sync per account runs at a time
        jobs.append(("backfill_insights", f"backfill:{account_id}:connect:{tag}", (account_id, backfill_days), 5.0))
    try:
        await publish_invalidation(upstream.redis, account_id)
        for function, job_id, args, defer_by in jobs:
            await upstream.queue.enqueue_job(function, *args, _job_id=job_id, _defer_by=defer_by)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable(
            "account saved, but the job queue is unavailable; sync it later", retry_after=5
        ) from exc
    return tuple(job_id for _, job_id, _, _ in jobs)
