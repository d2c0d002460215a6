"""The request limit on reconnecting an ad account that is already connected: each one validates a token with Meta
and queues two syncs that bypass the sync endpoint's dedupe, so it is an amplifier worth bounding."""

from __future__ import annotations

from aiohttp import web

from adsvc.accounts.queries import account_by_id
from adsvc.collection.records import account_number
from adsvc.keys import PG
from adsvc.ratelimit import limit_calls


async def limit_reconnects(request: web.Request, account_id: str) -> None:
    """429 with Retry-After once the caller (or anyone, on this account) reconnected it THROTTLE_RECONNECTS times
    in the window; a first connection is not limited here."""
    number = account_number(account_id)
    if await account_by_id(request.config_dict[PG], account_id=number) is not None:
        await limit_calls(request, "throttle_reconnects", account_id=number)
