"""Shared constants and small helpers for the sandbox tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp.test_utils import TestClient
from yarl import URL

from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, SandboxConfig, SandboxState

TODAY = date(2026, 3, 1)
SMALL = SandboxConfig(
    seed=11, accounts=3, campaigns_per_account=8, adsets_per_campaign=2, ads_per_adset=2, days=60, today=TODAY
)
ALL_STATUSES = ["ACTIVE", "PAUSED", "ARCHIVED", "DELETED", "CAMPAIGN_PAUSED", "ADSET_PAUSED", "DISAPPROVED"]


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def state_of(client: TestClient) -> SandboxState:
    return client.app[SANDBOX_STATE]


def account_ids(client: TestClient) -> list[str]:
    return [account.id for account in state_of(client).data.accounts.values()]


def with_token(**params: Any) -> dict[str, str]:
    return {"access_token": SANDBOX_ACCESS_TOKEN, **{key: str(value) for key, value in params.items()}}


async def graph_get(client: TestClient, path: str, **params: Any) -> tuple[int, Any, Any]:
    async with client.get(f"/v26.0/{path}", params=with_token(**params)) as response:
        return response.status, await response.json(), response.headers


async def follow_pages(client: TestClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Every row of an edge, following `next` as an absolute URL until it is absent."""
    status, body, _ = await graph_get(client, path, **params)
    assert status == 200, body
    rows = list(body["data"])
    while "next" in body.get("paging", {}):
        async with client.get(URL(body["paging"]["next"]).path_qs) as response:
            assert response.status == 200
            body = await response.json()
        rows.extend(body["data"])
    return rows


def action_map(elements: list[dict[str, str]] | None) -> dict[str, Decimal]:
    return {element["action_type"]: Decimal(element["value"]) for element in elements or []}


def assert_row_matches(row: dict[str, Any], truth: dict[str, Any]) -> None:
    """A Graph insights row (numeric strings) carries exactly the ground truth's values."""
    for name in ("impressions", "clicks", "reach", "inline_link_clicks"):
        if name in row:
            assert row[name] == str(truth[name]), name
    if "spend" in row:
        assert Decimal(row["spend"]) == truth["spend"]
    if "frequency" in row:
        assert Decimal(row["frequency"]) == truth["frequency"]
    if "actions" in row or truth["actions"]:
        assert action_map(row.get("actions")) == truth["actions"]
    if "action_values" in row or truth["action_values"]:
        assert action_map(row.get("action_values")) == truth["action_values"]
