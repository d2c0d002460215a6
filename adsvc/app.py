"""The application factory: settings, resources, middlewares, routes, templates, the pages sub-app. Nothing else."""

from __future__ import annotations

import time

import aiohttp_jinja2
import jinja2
import orjson
from aiohttp import web

from adsvc.accounts.views import admin_routes as admin_cache_routes
from adsvc.accounts.views import ops_routes as agent_cache_routes
from adsvc.accounts.views import routes as account_routes
from adsvc.analytics.views import routes as analytics_routes
from adsvc.auth.tokens import TokenVerifier
from adsvc.auth.views import admin_routes as admin_user_routes
from adsvc.auth.views import routes as auth_routes
from adsvc.automation.views import routes as automation_routes
from adsvc.automation.views import rule_routes as automation_rule_routes
from adsvc.campaigns.views import routes as campaign_routes
from adsvc.contexts import agents_ctx, arq_ctx, http_session_ctx, passwords_ctx, pg_ctx, redis_ctx, replays_ctx
from adsvc.keys import (
    ENDPOINTS,
    KNOWN_MIGRATIONS,
    METRICS,
    OPENAPI_DOCUMENT,
    SETTINGS,
    STARTED_AT,
    TOKEN_VERIFIER,
    TRANSLATIONS,
)
from adsvc.members.views import routes as member_routes
from adsvc.metrics import Metrics
from adsvc.middleware import auth_middleware, error_middleware, plain_server_header, request_context_middleware
from adsvc.migrations import known_migrations
from adsvc.openapi import build_openapi
from adsvc.pages.i18n import load_translations
from adsvc.pages.render import context_gettext, context_ngettext
from adsvc.pages.site import create_pages_app, mount_pages
from adsvc.routing import mount
from adsvc.settings import Settings
from adsvc.status.views import routes as status_routes
from adsvc.suggestions.views import legacy_routes as automation_legacy_routes
from adsvc.suggestions.views import routes as suggestion_routes
from adsvc.webhooks.views import n8n_routes as admin_n8n_routes
from adsvc.webhooks.views import routes as webhook_routes

ROUTE_TABLES = (
    auth_routes,
    admin_user_routes,
    admin_cache_routes,
    account_routes,
    member_routes,
    campaign_routes,
    analytics_routes,
    status_routes,
    agent_cache_routes,
    suggestion_routes,
    automation_legacy_routes,
    automation_routes,
    automation_rule_routes,
    webhook_routes,
    admin_n8n_routes,
)


def create_app(settings: Settings | None = None) -> web.Application:
    """Build the web app; with no settings they are read from the environment (gunicorn calls it that way)."""
    settings = settings or Settings.from_env()
    settings.check()
    app = web.Application(
        middlewares=[request_context_middleware, error_middleware, auth_middleware],
        client_max_size=settings.max_body_bytes,
    )
    app.on_response_prepare.append(plain_server_header)
    app[SETTINGS] = settings
    app[METRICS] = Metrics()
    app[STARTED_AT] = time.time()
    app[TOKEN_VERIFIER] = TokenVerifier(settings)
    app[KNOWN_MIGRATIONS] = known_migrations(settings.migrations_dir)
    app.cleanup_ctx.extend([pg_ctx, redis_ctx, arq_ctx, http_session_ctx, passwords_ctx, agents_ctx, replays_ctx])

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(settings.templates_dir),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    # each render brings its request's translations; the templates' _() and {% trans %} read them from there
    env.install_gettext_callables(context_gettext, context_ngettext, newstyle=True)  # type: ignore[attr-defined]
    app[TRANSLATIONS] = load_translations()
    app.router.add_static("/static", settings.templates_dir / "static", name="static")
    app[ENDPOINTS] = mount(app, ROUTE_TABLES)
    mount_pages(app, create_pages_app())
    app[OPENAPI_DOCUMENT] = orjson.dumps(build_openapi(app[ENDPOINTS].values(), settings))
    return app
