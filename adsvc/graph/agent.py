"""FacebookAdsAgent: a Graph client bound to one ad account and a token that a real round trip has validated."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import aiohttp
from redis.asyncio import Redis

from adsvc.accounts.queries import AccountInfo
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.client import GraphClient
from adsvc.graph.pacing import SharedPacing
from adsvc.graph.usage import Pacer
from adsvc.settings import Settings

UPSTREAM = "meta"


@dataclass(slots=True)
class FacebookAdsAgent:
    account: AccountInfo
    client: GraphClient
    created_at: float = field(default_factory=time.time)
    is_valid: bool = True

    def invalidate(self) -> None:
        """The token stopped working (error 190): the cache must build a new agent, not reuse this one."""
        self.is_valid = False


def account_info(raw: dict[str, Any]) -> AccountInfo:
    """Meta's account read (`act_<id>?fields=...`) as the AccountInfo we store."""
    offset: Decimal | None
    try:
        offset = (
            Decimal(str(raw["timezone_offset_hours_utc"])) if raw.get("timezone_offset_hours_utc") is not None else None
        )
    except InvalidOperation:
        offset = None
    status = raw.get("account_status")
    return AccountInfo(
        id=str(raw.get("account_id") or raw["id"]).removeprefix("act_"),
        name=str(raw.get("name") or ""),
        currency=str(raw.get("currency") or "USD").upper(),
        timezone_name=str(raw.get("timezone_name") or "UTC"),
        timezone_offset_hours_utc=offset,
        account_status=int(status) if status is not None else None,
    )


def graph_client(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    breakers: BreakerRegistry,
    account_id: str,
    access_token: str,
    interactive: bool = False,
    redis: Redis | None = None,
) -> GraphClient:
    """A client with the settings' limits; `interactive` (a web request waiting) fails fast instead of waiting out
    backoffs and pacing, which workers can afford up to GRAPH_MAX_PACE_WAIT_SECONDS: a longer wait raises THROTTLE
    so the sync gives the account back and is rescheduled. With `redis`, the account's pacing state is shared."""
    # a web request cannot wait out backoffs or pacing: one retry, short timeouts, a bounded pace
    limits: dict[str, Any] = (
        {"max_retries": 1, "retry_max_seconds": 2.0, "request_timeout": 20.0, "max_pace_wait": 5.0}
        if interactive
        else {
            "max_retries": settings.graph_max_retries,
            "poll_initial": settings.graph_poll_initial_seconds,
            "poll_max": settings.graph_poll_max_seconds,
            "stuck_job_timeout": settings.graph_stuck_job_seconds,
            "job_timeout": settings.graph_job_timeout_seconds,
            "max_pace_wait": settings.graph_max_pace_wait_seconds,
        }
    )
    return GraphClient(
        session=session,
        access_token=access_token,
        app_secret=settings.facebook_app_secret,
        account_id=account_id,
        base_url=settings.facebook_graph_url,
        breaker=breakers.get(UPSTREAM, account_id),
        pacer=Pacer(time_scale=settings.graph_pacing_time_scale),
        page_size=settings.graph_page_size,
        shared_pacing=SharedPacing(redis, account_id) if redis is not None else None,
        **limits,
    )


async def create_agent(
    settings: Settings,
    *,
    session: aiohttp.ClientSession,
    breakers: BreakerRegistry,
    account_id: str,
    access_token: str,
    interactive: bool = False,
    redis: Redis | None = None,
) -> FacebookAdsAgent:
    """Validate the token against the account with one Graph call; raises GraphError when Meta refuses (and
    CircuitOpen when the account's shared pacing state says it is throttled)."""
    client = graph_client(
        settings,
        session=session,
        breakers=breakers,
        account_id=account_id,
        access_token=access_token,
        interactive=interactive,
        redis=redis,
    )
    await client.load_shared_pacing()
    raw = await client.validate()
    return FacebookAdsAgent(account=account_info(raw), client=client)
