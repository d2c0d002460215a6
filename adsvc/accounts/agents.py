"""Agents for stored accounts: the token comes from the database, decrypted, and a 190 marks it invalid."""

from __future__ import annotations

import logging

import aiohttp
import asyncpg
from redis.asyncio import Redis

from adsvc.accounts.queries import account_token, mark_token
from adsvc.crypto import TokenBox, TokenUnreadable
from adsvc.errors import NotFound
from adsvc.graph.agent import FacebookAdsAgent, create_agent
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.errors import ErrorKind, GraphError
from adsvc.settings import Settings

log = logging.getLogger("adsvc.accounts")


class AgentFactory:
    """Builds the agent of a connected account; the agent cache calls it on a miss."""

    def __init__(
        self,
        settings: Settings,
        *,
        pg: asyncpg.Pool,
        box: TokenBox,
        session: aiohttp.ClientSession,
        breakers: BreakerRegistry,
        interactive: bool,
        redis: Redis | None = None,
    ) -> None:
        self._settings = settings
        self._pg = pg
        self._box = box
        self._session = session
        self._breakers = breakers
        self._interactive = interactive
        self._redis = redis

    async def __call__(self, account_id: str) -> FacebookAdsAgent:
        ciphertext = await account_token(self._pg, account_id=account_id)
        if ciphertext is None:
            raise NotFound("ad account not connected")
        try:
            token = self._box.open(ciphertext)
        except TokenUnreadable as exc:
            await mark_token(self._pg, account_id=account_id, status="invalid", error=str(exc))
            raise
        try:
            return await create_agent(
                self._settings,
                session=self._session,
                breakers=self._breakers,
                account_id=account_id,
                access_token=token,
                interactive=self._interactive,
                redis=self._redis,
            )
        except GraphError as exc:
            if exc.kind is ErrorKind.AUTH:
                log.warning("token of account %s rejected by Meta: %s", account_id, exc)
                await mark_token(self._pg, account_id=account_id, status="invalid", error=str(exc)[:500])
            raise
