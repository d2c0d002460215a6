"""The pages sub-app: the web app people use, mounted beside the JSON API under every path the API and the ops
endpoints do not own.

aiohttp mounts a sub-app under a prefix, and people's URLs (`/`, `/login`, `/dashboard`) have none. A sub-app can
also be matched by a rule (aiohttp's mechanism for domains): ours matches by the first path segment, so `/api/...`,
`/health`, `/ready`, `/metrics`, `/status` and `/static` stay with the main app (JSON errors included) and
everything else is a page, including its 404.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRuleMatching, MatchedSubAppResource

from adsvc.pages import account, accounts, actions, campaign, dashboard, drill, rules, suggestions, syncs, webhooks
from adsvc.pages.middleware import page_csrf, page_errors, page_session

if TYPE_CHECKING:
    from aiohttp.web_urldispatcher import _InfoDict

API_ROOTS = frozenset({"api", "health", "ready", "metrics", "status", "static"})
ROUTE_TABLES = (
    account.routes,
    dashboard.routes,
    campaign.routes,
    drill.routes,
    suggestions.routes,
    actions.routes,
    rules.routes,
    accounts.routes,
    syncs.routes,
    webhooks.routes,
)


class PagesRule(AbstractRuleMatching):
    async def match(self, request: web.Request) -> bool:
        return request.path.split("/", 2)[1] not in API_ROOTS

    def get_info(self) -> _InfoDict:
        return {"prefix": "/"}

    @property
    def canonical(self) -> str:
        return "pages: every path outside /" + ", /".join(sorted(API_ROOTS))


def create_pages_app() -> web.Application:
    pages = web.Application(middlewares=[page_errors, page_session, page_csrf])
    for table in ROUTE_TABLES:
        pages.add_routes(table)
    return pages


def mount_pages(app: web.Application, pages: web.Application) -> None:
    """Application.add_domain's own steps with our rule in place of a domain (it takes only a domain name)."""
    app._add_subapp(partial(MatchedSubAppResource, PagesRule(), pages), pages)
