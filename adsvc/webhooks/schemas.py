"""Request and response bodies of the webhooks API and the n8n admin endpoints."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.json_schema import SkipJsonSchema

from adsvc.routing import exactly_one_of
from adsvc.webhooks.events import Event, Format

DeliveryStatus = Literal["pending", "retrying", "delivered", "failed"]
ACCOUNT_PATTERN = r"^(act_)?[0-9]{1,20}$"


def _unique_events(events: list[Event] | None) -> list[Event] | None:
    if events is None:
        return None
    return list(dict.fromkeys(events))  # order kept, duplicates dropped


# http(s), a host, no credentials, no fragment; the host must also resolve to an address we may call
_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
URL_PATTERN = rf"^https?://([^/?#@\s:\[\]\x00]+|\[[0-9A-Fa-f:.]+\])(:{_PORT})?([/?][^#\s\x00]*)?$"
# documented here, checked by targets.parse_target (whose messages say what is wrong)
_URL_SHAPE: dict[str, Any] = {"pattern": URL_PATTERN}
URL_TEXT = (
    "http(s) URL we POST signed events to: no credentials, no fragment, and a host that resolves to a public address "
    "(loopback, private, link-local and metadata addresses are refused unless allow-listed)"
)


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str = Field(min_length=8, max_length=2048, description=URL_TEXT, json_schema_extra=_URL_SHAPE)
    events: list[Event] = Field(min_length=1, max_length=16)
    format: Format = Field(default="json", description="json: our envelope; slack: an incoming-webhook message")
    account_id: str | None = Field(
        default=None, pattern=ACCOUNT_PATTERN, description="one account you are a member of; omit for all of them"
    )
    description: str | None = Field(default=None, max_length=500)
    active: bool = True

    _dedupe = field_validator("events")(_unique_events)


class WebhookPatch(BaseModel):
    """Only the fields given change; `account_id: null` widens the subscription to all your accounts (url, events,
    format and active cannot be null)."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(min_length=8, max_length=2048)] | SkipJsonSchema[None] = Field(
        default=None, description=URL_TEXT, json_schema_extra=_URL_SHAPE
    )
    events: Annotated[list[Event], Field(min_length=1, max_length=16)] | SkipJsonSchema[None] = None
    format: Format | SkipJsonSchema[None] = None
    account_id: str | None = Field(default=None, pattern=ACCOUNT_PATTERN)
    description: str | None = Field(default=None, max_length=500)
    active: bool | SkipJsonSchema[None] = None

    _dedupe = field_validator("events")(_unique_events)


class WebhookOut(BaseModel):
    id: int
    url: str
    events: list[str]
    format: str
    account_id: str | None
    description: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(description="Shown once: verify X-Adsvc-Signature with it")
    signature: str = Field(description="How to verify a delivery")


class WebhookListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    account_id: str | None = Field(default=None, pattern=ACCOUNT_PATTERN, description="subscriptions covering it")


class WebhookListOut(BaseModel):
    data: list[WebhookOut]


class WebhookDeletedOut(BaseModel):
    id: int
    deleted: bool


class TestQueuedOut(BaseModel):
    event_id: str
    delivery_id: int


class DeliveryOut(BaseModel):
    id: int
    event_id: str
    event: str
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    finished_at: datetime | None


class DeliveryListQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: DeliveryStatus | None = None
    before_id: int = Field(default=2**62, ge=1, le=2**62)
    limit: int = Field(default=50, ge=1, le=200)


class DeliveryListOut(BaseModel):
    data: list[DeliveryOut]
    next_before_id: int | None


class N8nWorkflowOut(BaseModel):
    id: str
    name: str
    active: bool
    created_at: str | None
    updated_at: str | None
    tags: list[str]


class N8nWorkflowListOut(BaseModel):
    data: list[N8nWorkflowOut]


# a name n8n shows: at least one character that is not whitespace
WORKFLOW_NAME_PATTERN = r"^[^\x00]*[^\s\x00][^\x00]*$"


class MetricsWorkflowIn(BaseModel):
    """Exactly one of credential_id (an existing credential) and api_key (a new one)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra=exactly_one_of(credential_id="string", api_key="string")
    )
    name: str = Field(default="adsvc metrics export", min_length=1, max_length=128, pattern=WORKFLOW_NAME_PATTERN)
    every_hours: int = Field(default=24, ge=1, le=24, description="24: daily at 06:00; otherwise every N hours")
    days: int = Field(default=7, ge=1, le=90, description="complete days exported on each run")
    credential_id: Annotated[str, Field(max_length=64)] | None = Field(
        default=None, description="an existing n8n Header Auth credential holding X-API-Key"
    )
    api_key: Annotated[str, Field(min_length=16, max_length=256)] | None = Field(
        default=None,
        description="an adsvc API key: stored by n8n as a new Header Auth credential, never by adsvc",
    )
    activate: bool = False


class AlertsWorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(default="adsvc alerts", min_length=1, max_length=128, pattern=WORKFLOW_NAME_PATTERN)
    path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$", description="webhook path")
    slack_webhook_url: str | None = Field(default=None, pattern=r"^https://", max_length=2048)
    activate: bool = False


class CreatedWorkflowOut(BaseModel):
    id: str
    name: str
    active: bool
    webhook_url: str | None = Field(
        default=None, description="alerts only: subscribe this URL with POST /api/v1/webhooks (format json)"
    )
    workflow: dict[str, Any]


class ValidateWorkflowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    workflow: dict[str, Any]


class WorkflowProblem(BaseModel):
    path: str
    message: str


class WorkflowValidationOut(BaseModel):
    valid: bool
    errors: list[WorkflowProblem]
    warnings: list[WorkflowProblem]
    triggers: list[str]
    credentials: list[dict[str, str]]
