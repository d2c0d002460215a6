"""Every typed application and request key of the web app, in one place."""

from __future__ import annotations

from typing import Final

import aiohttp
import asyncpg
from aiohttp import web
from arq.connections import ArqRedis
from babel.support import NullTranslations
from redis.asyncio import Redis

from adsvc.auth.passwords import PasswordHashing
from adsvc.auth.principal import Principal
from adsvc.auth.revocation import RevocationChecker
from adsvc.auth.tokens import TokenVerifier
from adsvc.automation.replays import ReplayPool
from adsvc.crypto import TokenBox
from adsvc.graph.agent import FacebookAdsAgent
from adsvc.graph.breaker import BreakerRegistry
from adsvc.graph.cache import AgentCache
from adsvc.metrics import Metrics
from adsvc.pages.sessions import Session, SessionStore
from adsvc.routing import Endpoint
from adsvc.settings import Settings

SETTINGS: Final = web.AppKey("SETTINGS", Settings)
PG: Final = web.AppKey("PG", asyncpg.Pool)
REDIS: Final = web.AppKey("REDIS", Redis)
HTTP: Final = web.AppKey("HTTP", aiohttp.ClientSession)
METRICS: Final = web.AppKey("METRICS", Metrics)
PASSWORDS: Final = web.AppKey("PASSWORDS", PasswordHashing)
# A hash of a random password, verified when the email is unknown so both cases cost the same.
DUMMY_PASSWORD_HASH: Final = web.AppKey("DUMMY_PASSWORD_HASH", str)
ENDPOINTS: Final = web.AppKey("ENDPOINTS", dict[str, Endpoint])
OPENAPI_DOCUMENT: Final = web.AppKey("OPENAPI_DOCUMENT", bytes)
KNOWN_MIGRATIONS: Final = web.AppKey("KNOWN_MIGRATIONS", tuple[str, ...])
STARTED_AT: Final = web.AppKey("STARTED_AT", float)
TOKEN_VERIFIER: Final = web.AppKey("TOKEN_VERIFIER", TokenVerifier)
REVOCATION: Final = web.AppKey("REVOCATION", RevocationChecker)

TOKEN_BOX: Final = web.AppKey("TOKEN_BOX", TokenBox)
BREAKERS: Final = web.AppKey("BREAKERS", BreakerRegistry)
AGENTS: Final = web.AppKey("AGENTS", AgentCache[FacebookAdsAgent])
ARQ: Final = web.AppKey("ARQ", ArqRedis)
# the worker processes backtests replay in, and their slots (BACKTEST_CONCURRENCY)
REPLAYS: Final = web.AppKey("REPLAYS", ReplayPool)

# the pages: their sessions, and the texts of each language
SESSIONS: Final = web.AppKey("SESSIONS", SessionStore)
TRANSLATIONS: Final = web.AppKey("TRANSLATIONS", dict[str, NullTranslations])

REQUEST_ID: Final = web.RequestKey("REQUEST_ID", str)
PRINCIPAL: Final = web.RequestKey("PRINCIPAL", Principal)
# a page request's session and its id (set by the pages' session middleware when someone is signed in)
PAGE_SESSION: Final = web.RequestKey("PAGE_SESSION", Session)
PAGE_SESSION_ID: Final = web.RequestKey("PAGE_SESSION_ID", str)
# signed out: the CSRF token of the sign-in form (double-submitted: cookie and form field)
CSRF_COOKIE_TOKEN: Final = web.RequestKey("CSRF_COOKIE_TOKEN", str)
