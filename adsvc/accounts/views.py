"""HTTP handlers for ad accounts (list, connect, detail, sync, sync runs) and the agent cache's ops endpoints."""

from __future__ import annotations

import dataclasses

from aiohttp import web
from redis.exceptions import RedisError

from adsvc.accounts import queries
from adsvc.accounts.connecting import Actor, Upstream
from adsvc.accounts.connecting import connect_account as connect_account_for
from adsvc.accounts.limits import limit_reconnects
from adsvc.accounts.schemas import (
    AccountDetailOut,
    AccountListOut,
    AccountOut,
    AgentCacheOut,
    CampaignCountsOut,
    ConnectAccountIn,
    ConversionSettingIn,
    ConversionSettingOut,
    ConversionsOut,
    InvalidateIn,
    InvalidateOut,
    SyncIn,
    SyncQueuedOut,
    SyncRunListOut,
    SyncRunListQuery,
    SyncRunOut,
)
from adsvc.accounts.syncing import queue_sync
from adsvc.audit.queries import insert_audit_entry
from adsvc.collection.conversions import check_action_types, describe, rule_for
from adsvc.collection.queries import runs_for_account
from adsvc.collection.records import account_number
from adsvc.collection.recount import recount_conversions
from adsvc.errors import ApiError, Forbidden, NotFound, ServiceUnavailable, TooManyRequests, ValidationFailed
from adsvc.graph.breaker import CircuitOpen
from adsvc.graph.errors import ErrorKind, GraphError
from adsvc.graph.invalidation import publish_invalidation
from adsvc.keys import AGENTS, ARQ, BREAKERS, HTTP, PG, REDIS, SETTINGS, TOKEN_BOX
from adsvc.middleware import admin_caller
from adsvc.requests import audit_origin, client_address, principal, request_id
from adsvc.routing import Auth, Routes, json_response, keyset_page

routes = Routes(tag="ad-accounts")
ops_routes = Routes(tag="ops")
admin_routes = Routes(tag="admin")


def _account_out(account: queries.Account) -> AccountOut:
    return AccountOut(
        id=account.id,
        name=account.name,
        currency=account.currency,
        timezone_name=account.timezone_name,
        timezone_offset_hours_utc=account.timezone_offset_hours_utc,
        account_status=account.account_status,
        token_status=account.token_status,  # type: ignore[arg-type]
        token_checked_at=account.token_checked_at,
        token_error=account.token_error,
        connected_at=account.connected_at,
        last_structure_sync_at=account.last_structure_sync_at,
        last_insights_sync_at=account.last_insights_sync_at,
        role=account.role,
    )


def graph_error_to_api(exc: GraphError | CircuitOpen) -> ApiError:
    """What a client of ours should see when Meta said no (never Meta's raw body, never a token)."""
    if isinstance(exc, CircuitOpen):
        return ServiceUnavailable(
            "Meta API calls are paused after repeated failures",
            retry_after=int(exc.retry_after) + 1,
            code="upstream_circuit_open",
        )
    if exc.kind is ErrorKind.AUTH:
        return ValidationFailed.field(
            ("body", "access_token"),
            str(exc),
            kind="meta_auth",
            code="meta_token_rejected",
            summary="Meta rejected the access token",
        )
    if exc.kind is ErrorKind.THROTTLE:
        return TooManyRequests(
            "Meta is rate limiting this account", retry_after=int(exc.retry_after or 60), code="meta_throttled"
        )
    if exc.kind is ErrorKind.TRANSIENT:
        return ServiceUnavailable("Meta is temporarily unavailable", retry_after=30, code="meta_unavailable")
    return ValidationFailed.field(
        ("body", "account_id"),
        str(exc),
        kind="meta_permission",
        code="meta_refused",
        summary="Meta refused this account for this token",
    )


async def _member_account(request: web.Request, account_id: str) -> queries.Account:
    account = await queries.account_for_user(
        request.config_dict[PG], account_id=account_number(account_id), user_id=principal(request).user_id
    )
    if account is None:
        raise NotFound("ad account not found")
    return account


@routes.get(
    "/api/v1/ad-accounts", name="ad-accounts", summary="The ad accounts you are a member of", response=AccountListOut
)
async def list_accounts(request: web.Request) -> web.Response:
    accounts = await queries.accounts_for_user(request.config_dict[PG], user_id=principal(request).user_id)
    return json_response(AccountListOut(data=[_account_out(account) for account in accounts]))


@routes.post(
    "/api/v1/ad-accounts",
    name="connect-ad-account",
    summary="Connect an ad account: the token is validated with Meta, stored encrypted, and never returned; you "
    "become its owner. An account already connected gets the new token (200; cached agents are dropped in every "
    "process) only from its owners and managers: anyone else gets 409 `ask_an_owner` and nothing changes",
    body=ConnectAccountIn,
    response=AccountOut,
    status=201,
    errors=(409, 429, 503),
    alt_responses={200: AccountOut},
    limit="throttle_reconnects",
)
async def connect_account(request: web.Request, body: ConnectAccountIn) -> web.Response:
    await limit_reconnects(request, body.account_id)
    app = request.config_dict
    upstream = Upstream(
        settings=app[SETTINGS],
        session=app[HTTP],
        breakers=app[BREAKERS],
        box=app[TOKEN_BOX],
        queue=app[ARQ],
        redis=app[REDIS],
        agents=app[AGENTS],
        interactive=True,
    )
    actor = Actor(
        user_id=principal(request).user_id, client_addr=client_address(request), request_id=request_id(request)
    )
    try:
        connected = await connect_account_for(
            app[PG], upstream, account_id=account_number(body.account_id), access_token=body.access_token, actor=actor
        )
    except (GraphError, CircuitOpen) as exc:
        raise graph_error_to_api(exc) from None
    return json_response(_account_out(connected.account), status=201 if connected.created else 200)


@routes.get(
    "/api/v1/ad-accounts/{account_id}",
    name="ad-account",
    summary="One ad account with campaign counts",
    response=AccountDetailOut,
    errors=(404,),
    path_params={"account_id": str},
)
async def get_account(request: web.Request, account_id: str) -> web.Response:
    account = await _member_account(request, account_id)
    pg = request.config_dict[PG]
    by_status = await queries.campaign_counts(pg, account_id=account.id)
    running = await queries.running_sync_count(pg, account_id=account.id)
    conversion_types = await queries.conversion_action_types(pg, account_id=account.id)
    return json_response(
        AccountDetailOut(
            **_account_out(account).model_dump(),
            campaigns=CampaignCountsOut(total=sum(by_status.values()), by_effective_status=by_status),
            running_syncs=running,
            conversions=_conversions_out(conversion_types),
        )
    )


@routes.post(
    "/api/v1/ad-accounts/{account_id}/sync",
    name="ad-account-sync",
    summary="Queue a sync of this account (structure, insights with the restatement lookback, or a backfill)",
    body=SyncIn,
    response=SyncQueuedOut,
    status=202,
    errors=(403, 404),
    path_params={"account_id": str},
)
async def trigger_sync(request: web.Request, body: SyncIn, account_id: str) -> web.Response:
    account = await _member_account(request, account_id)
    queued = await queue_sync(request.config_dict[PG], request.config_dict[ARQ], account=account, kind=body.kind,
                              days=body.days, origin=audit_origin(request))  # fmt: skip
    return json_response(SyncQueuedOut(job_id=queued.job_id, kind=queued.kind, queued=queued.queued), status=202)


@routes.get(
    "/api/v1/ad-accounts/{account_id}/sync-runs",
    name="ad-account-sync-runs",
    summary="Sync runs of this account, newest first, with progress, counts, Graph calls and errors",
    query=SyncRunListQuery,
    response=SyncRunListOut,
    errors=(404,),
    path_params={"account_id": str},
)
async def list_sync_runs(request: web.Request, query: SyncRunListQuery, account_id: str) -> web.Response:
    account = await _member_account(request, account_id)
    runs = await runs_for_account(
        request.config_dict[PG], account_id=account.id, before_id=query.before_id, limit=query.limit + 1
    )
    page, next_before_id = keyset_page(runs, query.limit)
    data = [SyncRunOut(**dataclasses.asdict(run)) for run in page]
    return json_response(SyncRunListOut(data=data, next_before_id=next_before_id))


@ops_routes.get(
    "/health/agent-cache",
    name="health-agent-cache",
    summary="The Facebook agent cache of this process in aggregate; with an admin token also per account, with "
    "circuit breakers",
    auth=Auth.PUBLIC,
    response=AgentCacheOut,
)
async def agent_cache_health(request: web.Request) -> web.Response:
    cache = request.config_dict[AGENTS]
    breakers = request.config_dict[BREAKERS].snapshot()
    health = AgentCacheOut(**cache.aggregate(), breakers_open=sum(1 for b in breakers if b["state"] != "closed"))
    if await admin_caller(request) is not None:
        health.accounts = {key: cache.stats(key) for key in sorted(cache.keys())}
        health.breakers = breakers
    return json_response(health)


@admin_routes.post(
    "/api/v1/admin/agent-cache/invalidate",
    name="admin-agent-cache-invalidate",
    summary="Drop cached agents (one account or all) in every web and worker process",
    auth=Auth.ADMIN,
    body=InvalidateIn,
    response=InvalidateOut,
)
async def invalidate_agents(request: web.Request, body: InvalidateIn) -> web.Response:
    account_id = account_number(body.account_id) if body.account_id else None
    dropped = request.config_dict[AGENTS].invalidate(account_id)
    try:
        notified = await publish_invalidation(request.config_dict[REDIS], account_id)
    except (RedisError, OSError) as exc:
        raise ServiceUnavailable("dropped here, but other processes could not be told", retry_after=5) from exc
    await insert_audit_entry(
        request.config_dict[PG],
        action="agent_cache.invalidate",
        target_type="ad_account" if account_id else "agent_cache",
        target_id=account_id,
        details={"dropped_here": dropped, "processes_notified": notified},
        **audit_origin(request),
    )
    return json_response(InvalidateOut(dropped_here=dropped, processes_notified=notified))


# ---- the account's conversion types (adsvc.collection.conversions): which action types are its conversions -------

CONVERSION_SETTING_ROLES = frozenset({"owner", "manager"})


def _conversions_out(action_types: list[str] | None) -> ConversionsOut:
    return ConversionsOut(action_types=action_types, rule=describe(rule_for(action_types).tree))


@routes.route(
    "PATCH",
    "/api/v1/ad-accounts/{account_id}",
    name="update-ad-account",
    summary="Set which action types are this account's conversions (null: the default precedence); its stored "
    "insights are recounted from their stored actions at once",
    body=ConversionSettingIn,
    response=ConversionSettingOut,
    errors=(403, 404),
    path_params={"account_id": str},
)
async def update_account_conversions(request: web.Request, body: ConversionSettingIn, account_id: str) -> web.Response:
    account = await _member_account(request, account_id)
    if account.role not in CONVERSION_SETTING_ROLES:
        raise Forbidden("only owners and managers can change what counts as a conversion")
    types = body.conversion_action_types
    if types is not None and (problems := check_action_types(types)):
        raise ValidationFailed(
            problems[0],
            details=[
                {"loc": ["body", "conversion_action_types"], "msg": problem, "type": "value_error"}
                for problem in problems
            ],
            code="invalid_conversion_types",
        )
    # one transaction: the setting, every stored row recounted and the campaign list's rows, or nothing
    async with request.config_dict[PG].acquire() as conn, conn.transaction():
        found, before = await queries.lock_conversion_action_types(conn, account_id=account.id)
        if not found:
            raise NotFound("ad account not found")
        changed = before != types
        recounted = 0
        if changed:
            await queries.set_conversion_action_types(conn, account_id=account.id, action_types=types)
            recounted = await recount_conversions(conn, account_id=account.id, rule=rule_for(types))
            await insert_audit_entry(
                conn,
                action="ad_account.conversion_types",
                target_type="ad_account",
                target_id=account.id,
                before={"conversion_action_types": before},
                after={"conversion_action_types": types},
                details={"recounted_rows": recounted},
                **audit_origin(request),
            )
    return json_response(
        ConversionSettingOut(
            account_id=account.id, conversions=_conversions_out(types), changed=changed, recounted_rows=recounted
        )
    )
