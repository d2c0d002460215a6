"""HTTP handlers for webhook subscriptions and their deliveries, and the n8n admin endpoints."""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from aiohttp import web

from adsvc.audit.queries import insert_audit_entry
from adsvc.collection.records import account_number
from adsvc.errors import ApiError, ServiceUnavailable, ValidationFailed
from adsvc.integrations.n8n import N8nClient, N8nError
from adsvc.integrations.n8n_workflows import alerts_workflow, metrics_workflow, validate_workflow
from adsvc.keys import ARQ, HTTP, PG, TOKEN_BOX
from adsvc.ratelimit import limit_calls
from adsvc.requests import audit_origin, principal
from adsvc.routing import Auth, Routes, json_response, keyset_page
from adsvc.webhooks import queries, subscriptions
from adsvc.webhooks.config import WebhookSettings
from adsvc.webhooks.schemas import (
    AlertsWorkflowIn,
    CreatedWorkflowOut,
    DeliveryListOut,
    DeliveryListQuery,
    DeliveryOut,
    MetricsWorkflowIn,
    N8nWorkflowListOut,
    N8nWorkflowOut,
    TestQueuedOut,
    ValidateWorkflowIn,
    WebhookCreatedOut,
    WebhookDeletedOut,
    WebhookIn,
    WebhookListOut,
    WebhookListQuery,
    WebhookOut,
    WebhookPatch,
    WorkflowValidationOut,
)

routes = Routes(tag="webhooks")
n8n_routes = Routes(tag="admin")

SIGNATURE_HELP = (
    "X-Adsvc-Signature = 'sha256=' + hex(HMAC-SHA256(secret, X-Adsvc-Timestamp + '.' + raw body)); "
    "reject timestamps more than 300 s away from now"
)
_ID: dict[str, type] = {"webhook_id": int}


class BadGateway(ApiError):
    status, code = 502, "bad_gateway"


def _out(webhook: queries.Webhook) -> WebhookOut:
    return WebhookOut(
        id=webhook.id,
        url=webhook.url,
        events=webhook.events,
        format=webhook.format,
        account_id=webhook.account_id,
        description=webhook.description,
        active=webhook.active,
        created_at=webhook.created_at,
        updated_at=webhook.updated_at,
    )


async def _own_webhook(request: web.Request, webhook_id: int) -> queries.Webhook:
    return await subscriptions.own_webhook(request.config_dict[PG], webhook_id=webhook_id,
                                           user_id=principal(request).user_id)  # fmt: skip


@routes.get(
    "/api/v1/webhooks",
    name="webhooks",
    summary="Your webhook subscriptions",
    query=WebhookListQuery,
    response=WebhookListOut,
)
async def list_webhooks(request: web.Request, query: WebhookListQuery) -> web.Response:
    account_id = account_number(query.account_id) if query.account_id else None
    webhooks = await queries.webhooks_for_user(request.config_dict[PG], user_id=principal(request).user_id,
                                               account_id=account_id)  # fmt: skip
    return json_response(WebhookListOut(data=[_out(webhook) for webhook in webhooks]))


@routes.post(
    "/api/v1/webhooks",
    name="create-webhook",
    summary="Subscribe a URL to events; the signing secret is in this response only",
    body=WebhookIn,
    response=WebhookCreatedOut,
    status=201,
    errors=(404, 409),
)
async def create_webhook(request: web.Request, body: WebhookIn) -> web.Response:
    webhook, secret = await subscriptions.create_webhook(request.config_dict[PG], request.config_dict[TOKEN_BOX],
                                                         audit_origin(request), user_id=principal(request).user_id,
                                                         body=body)  # fmt: skip
    out = WebhookCreatedOut(**_out(webhook).model_dump(), secret=secret, signature=SIGNATURE_HELP)
    return json_response(out, status=201)


@routes.get(
    "/api/v1/webhooks/{webhook_id}",
    name="webhook",
    summary="One of your webhook subscriptions (without its secret)",
    response=WebhookOut,
    errors=(404,),
    path_params=_ID,
)
async def get_webhook(request: web.Request, webhook_id: int) -> web.Response:
    return json_response(_out(await _own_webhook(request, webhook_id)))


@routes.route(
    "PATCH",
    "/api/v1/webhooks/{webhook_id}",
    name="update-webhook",
    summary="Change a subscription's URL, events, format, account, description or active flag",
    body=WebhookPatch,
    response=WebhookOut,
    errors=(404,),
    path_params=_ID,
)
async def update_webhook(request: web.Request, body: WebhookPatch, webhook_id: int) -> web.Response:
    webhook = await subscriptions.update_webhook(request.config_dict[PG], audit_origin(request),
                                                 user_id=principal(request).user_id, webhook_id=webhook_id,
                                                 body=body)  # fmt: skip
    return json_response(_out(webhook))


@routes.route(
    "DELETE",
    "/api/v1/webhooks/{webhook_id}",
    name="delete-webhook",
    summary="Delete a subscription and its delivery history",
    response=WebhookDeletedOut,
    errors=(404,),
    path_params=_ID,
)
async def delete_webhook(request: web.Request, webhook_id: int) -> web.Response:
    await subscriptions.delete_webhook(request.config_dict[PG], audit_origin(request),
                                       user_id=principal(request).user_id, webhook_id=webhook_id)  # fmt: skip
    return json_response(WebhookDeletedOut(id=webhook_id, deleted=True))


@routes.post(
    "/api/v1/webhooks/{webhook_id}/test",
    name="test-webhook",
    summary="Queue a signed `test` event to this subscription; see its deliveries for the outcome",
    response=TestQueuedOut,
    status=202,
    errors=(404,),
    path_params=_ID,
    limit="throttle_webhook_tests",
)
async def test_webhook(request: web.Request, webhook_id: int) -> web.Response:
    webhook = await _own_webhook(request, webhook_id)
    await limit_calls(request, "throttle_webhook_tests", account_id=webhook.account_id)
    event_id, delivery_id = await subscriptions.send_test(request.config_dict[PG], request.config_dict[ARQ],
                                                          audit_origin(request), webhook=webhook,
                                                          user_id=principal(request).user_id)  # fmt: skip
    return json_response(TestQueuedOut(event_id=event_id, delivery_id=delivery_id), status=202)


@routes.get(
    "/api/v1/webhooks/{webhook_id}/deliveries",
    name="webhook-deliveries",
    summary="Deliveries of this subscription, newest first: status, attempts, last response code and error",
    query=DeliveryListQuery,
    response=DeliveryListOut,
    errors=(404,),
    path_params=_ID,
)
async def list_deliveries(request: web.Request, query: DeliveryListQuery, webhook_id: int) -> web.Response:
    webhook = await _own_webhook(request, webhook_id)
    rows = await queries.deliveries_for_webhook(
        request.config_dict[PG],
        webhook_id=webhook.id,
        status=query.status,
        before_id=query.before_id,
        limit=query.limit + 1,
    )
    page, next_before_id = keyset_page(rows, query.limit)
    data = [DeliveryOut(**{k: v for k, v in dataclasses.asdict(row).items() if k != "webhook_id"}) for row in page]
    return json_response(DeliveryListOut(data=data, next_before_id=next_before_id))


# ---- n8n -----------------------------------------------------------------------------------------------------


def _n8n(request: web.Request) -> tuple[N8nClient, WebhookSettings]:
    settings = WebhookSettings.from_env()
    if not settings.n8n_api_url or not settings.n8n_api_key:
        raise ServiceUnavailable(
            "n8n is not configured: set N8N_API_URL and N8N_API_KEY", retry_after=60, code="n8n_not_configured"
        )
    client = N8nClient(
        request.config_dict[HTTP],
        base_url=settings.n8n_api_url,
        api_key=settings.n8n_api_key,
        timeout=settings.n8n_timeout_seconds,
    )
    return client, settings


def _n8n_error(exc: N8nError) -> ApiError:
    if exc.status is None:
        return BadGateway(str(exc), code="n8n_unreachable")
    if exc.status in (401, 403):
        return BadGateway("n8n refused N8N_API_KEY", code="n8n_auth_failed")
    return BadGateway(str(exc), code="n8n_error", details={"status": exc.status})


def _workflow_out(workflow: dict[str, Any]) -> N8nWorkflowOut:
    tags = workflow.get("tags") or []
    return N8nWorkflowOut(
        id=str(workflow.get("id", "")),
        name=str(workflow.get("name", "")),
        active=bool(workflow.get("active", False)),
        created_at=workflow.get("createdAt"),
        updated_at=workflow.get("updatedAt"),
        tags=[str(tag.get("name", "")) if isinstance(tag, dict) else str(tag) for tag in tags],
    )


@n8n_routes.get(
    "/api/v1/admin/n8n/workflows",
    name="admin-n8n-workflows",
    summary="The workflows of the configured n8n",
    auth=Auth.ADMIN,
    response=N8nWorkflowListOut,
    errors=(502,),
)
async def list_n8n_workflows(request: web.Request) -> web.Response:
    client, _ = _n8n(request)
    try:
        workflows = await client.list_workflows()
    except N8nError as exc:
        raise _n8n_error(exc) from None
    return json_response(N8nWorkflowListOut(data=[_workflow_out(workflow) for workflow in workflows]))


async def _create(
    request: web.Request, client: N8nClient, workflow: dict[str, Any], *, activate: bool, kind: str
) -> dict[str, Any]:
    problems = validate_workflow(workflow)
    assert problems.valid, problems.errors  # our own builders produce valid workflows; a failure here is our bug
    try:
        created = await client.create_workflow(workflow)
        if activate:
            created = {**created, **(await client.activate_workflow(str(created["id"])))}
    except N8nError as exc:
        raise _n8n_error(exc) from None
    await insert_audit_entry(
        request.config_dict[PG],
        action=f"n8n.workflow.create.{kind}",
        target_type="n8n_workflow",
        target_id=str(created.get("id")),
        after={"name": workflow["name"], "active": bool(created.get("active"))},
        **audit_origin(request),
    )
    return created


@n8n_routes.post(
    "/api/v1/admin/n8n/workflows/metrics",
    name="admin-n8n-create-metrics-workflow",
    summary="Create the n8n workflow that pulls GET /api/v1/metrics/export on a schedule with an X-API-Key",
    auth=Auth.ADMIN,
    body=MetricsWorkflowIn,
    response=CreatedWorkflowOut,
    status=201,
    errors=(502,),
)
async def create_metrics_workflow(request: web.Request, body: MetricsWorkflowIn) -> web.Response:
    if (body.credential_id is None) == (body.api_key is None):
        raise ValidationFailed.field(("body", "credential_id"), "give exactly one of credential_id and api_key")
    client, settings = _n8n(request)
    credential_name = "adsvc X-API-Key"
    credential_id = body.credential_id
    if body.api_key is not None:
        try:
            credential = await client.create_credential(
                name=credential_name, type="httpHeaderAuth", data={"name": "X-API-Key", "value": body.api_key}
            )
        except N8nError as exc:
            raise _n8n_error(exc) from None
        credential_id = str(credential["id"])
        credential_name = str(credential.get("name", credential_name))
    assert credential_id is not None
    workflow = metrics_workflow(
        name=body.name,
        adsvc_url=settings.public_url,
        credential_id=credential_id,
        credential_name=credential_name,
        every_hours=body.every_hours,
        days=body.days,
    )
    created = await _create(request, client, workflow, activate=body.activate, kind="metrics")
    return json_response(
        CreatedWorkflowOut(
            id=str(created["id"]), name=body.name, active=bool(created.get("active")), workflow=workflow
        ),
        status=201,
    )


@n8n_routes.post(
    "/api/v1/admin/n8n/workflows/alerts",
    name="admin-n8n-create-alerts-workflow",
    summary="Create the n8n workflow that receives adsvc webhook events (and posts them to Slack if given a URL)",
    auth=Auth.ADMIN,
    body=AlertsWorkflowIn,
    response=CreatedWorkflowOut,
    status=201,
    errors=(502,),
)
async def create_alerts_workflow(request: web.Request, body: AlertsWorkflowIn) -> web.Response:
    client, settings = _n8n(request)
    path = body.path or f"adsvc-alerts-{secrets.token_hex(6)}"
    workflow = alerts_workflow(name=body.name, path=path, slack_webhook_url=body.slack_webhook_url)
    created = await _create(request, client, workflow, activate=body.activate, kind="alerts")
    assert settings.n8n_api_url is not None
    # n8n serves production webhooks at <its base URL>/webhook/<path>; its API lives at <base URL>/api/v1
    base = settings.n8n_api_url.removesuffix("/api/v1")
    return json_response(
        CreatedWorkflowOut(
            id=str(created["id"]),
            name=body.name,
            active=bool(created.get("active")),
            webhook_url=f"{base}/webhook/{path}",
            workflow=workflow,
        ),
        status=201,
    )


@n8n_routes.post(
    "/api/v1/admin/n8n/workflows/validate",
    name="admin-n8n-validate-workflow",
    summary="Check an n8n workflow JSON locally: unique node names, connections, a trigger, known node types",
    auth=Auth.ADMIN,
    body=ValidateWorkflowIn,
    response=WorkflowValidationOut,
)
async def validate_n8n_workflow(request: web.Request, body: ValidateWorkflowIn) -> web.Response:
    result = validate_workflow(body.workflow)
    return json_response(
        WorkflowValidationOut(
            valid=result.valid,
            errors=result.errors,  # type: ignore[arg-type]
            warnings=result.warnings,  # type: ignore[arg-type]
            triggers=result.triggers,
            credentials=result.credentials,
        )
    )
