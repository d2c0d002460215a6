"""The OpenAPI document states what validation enforces: the rules between fields where OpenAPI 3.1 can, in the
operation's description where it cannot. Each test pairs what the document says with what the server does."""

from __future__ import annotations

import re

import orjson
import pytest
from accounts.helpers import new_caller
from jsonschema import Draft202012Validator

from adsvc.automation.runner import MAX_BACKTEST_DAYS, MAX_BACKTEST_OBJECT_DAYS
from adsvc.campaigns.periods import MAX_PERIOD_DAYS


@pytest.fixture
async def document(client):
    return orjson.loads(await (await client.get("/api/openapi.json")).read())


def _operation(document, method, path):
    return document["paths"][path][method]


def _validator(document, schema):
    return Draft202012Validator({**schema, "components": document["components"]})


def _component(document, name):
    return {"$ref": f"#/components/schemas/{name}"}


def _query_schema(document, method, path):
    [parameter] = [p for p in _operation(document, method, path)["parameters"] if p["in"] == "query"]
    assert (parameter["style"], parameter["explode"]) == ("form", True)
    return parameter


PERIODS = [
    {"since": "2026-01-01"},
    {"until": "2026-01-01"},
    {"date_preset": "last_7d", "since": "2026-01-01", "until": "2026-01-02"},
    {"date_preset": "yesterday", "until": "2026-01-02"},
]


@pytest.mark.parametrize("period", PERIODS)
async def test_a_period_the_server_refuses_is_one_the_document_refuses(client, document, db, settings, period):
    caller = await new_caller(client, db, settings)
    response = await client.get("/api/v1/analytics/dashboard", params=period, headers=caller.headers)
    assert response.status == 422
    parameter = _query_schema(document, "get", "/api/v1/analytics/dashboard")
    assert not _validator(document, parameter["schema"]).is_valid(period)
    good = {"since": "2026-01-01", "until": "2026-01-02"}
    assert _validator(document, parameter["schema"]).is_valid(good)
    assert (await client.get("/api/v1/analytics/dashboard", params=good, headers=caller.headers)).status == 200


async def test_what_json_schema_cannot_compare_is_in_the_operation_descriptions(document):
    for path in ("/api/v1/analytics/dashboard", "/api/v1/campaigns/{campaign_id}/insights"):
        assert f"at most {MAX_PERIOD_DAYS} days" in _operation(document, "get", path)["description"]
        assert "until not before since" in _operation(document, "get", path)["description"]
    backtest = _operation(document, "post", "/api/v1/automation/rules/{rule_id}/backtest")["description"]
    assert f"at most {MAX_BACKTEST_DAYS} days" in backtest and f"{MAX_BACKTEST_OBJECT_DAYS:,} object-days" in backtest
    assert (
        "min_budget is not above its max_budget"
        in _operation(document, "post", "/api/v1/automation/rules")["description"]
    )


async def test_trends_needs_an_account_or_a_campaign_in_the_document_too(document):
    parameter = _query_schema(document, "get", "/api/v1/analytics/trends")
    assert parameter["required"] is True
    validator = _validator(document, parameter["schema"])
    assert not validator.is_valid({"metric": "spend"})
    assert validator.is_valid({"campaign_id": "123"})


GROUPS = [({"all": None}, False), ({}, False), ({"all": [], "any": []}, False), ({"any": []}, False)]


@pytest.mark.parametrize(("group", "valid"), GROUPS)
async def test_a_condition_group_has_exactly_one_of_all_and_any(document, group, valid):
    assert _validator(document, _component(document, "RuleConditionGroup-Input")).is_valid(group) is valid
    leaf = {"metric": "ctr", "operator": "lt", "value": 1}
    assert _validator(document, _component(document, "RuleConditionGroup-Input")).is_valid({"any": [leaf]})
    assert not _validator(document, _component(document, "RuleConditionGroup-Input")).is_valid(
        {"any": [leaf], "all": [leaf]}
    )


@pytest.mark.parametrize(
    ("action", "valid"),
    [
        ({"type": "change_budget"}, False),
        ({"type": "change_budget", "percent": 10, "amount": 500}, False),
        ({"type": "change_budget", "percent": 0}, False),
        ({"type": "change_budget", "percent": None}, False),
        ({"type": "change_budget", "percent": -20}, True),
        ({"type": "change_budget", "amount": 500, "min_budget": 100}, True),
    ],
)
async def test_a_budget_action_has_exactly_one_of_percent_and_amount(document, action, valid):
    assert _validator(document, _component(document, "BudgetRuleAction")).is_valid(action) is valid


async def test_the_password_policy_is_in_the_document(document, settings):
    create_user = document["components"]["schemas"]["CreateUserIn"]["properties"]["password"]
    validator = Draft202012Validator(create_user)
    assert create_user["minLength"] == settings.password_min_length
    for refused in ("short", " leading space pw", "aaaaaaaaaaaaaaaa", "Password1234", "trailing space x\x1f"):
        assert not validator.is_valid(refused), refused
    assert validator.is_valid("a long enough password")


@pytest.mark.parametrize(
    ("value", "valid"),
    [("2", True), ("0.000001", True), ("100", True), ("100.000001", False), ("0", False), ("1.0000001", False),
     ("1e2", False), (" 2", False), (0.000001, True), (0, False), (100.5, False)],
)  # fmt: skip
async def test_decimal_inputs_are_documented_on_their_grid(client, document, db, settings, value, valid):
    schema = document["components"]["schemas"]["BenchmarksIn"]["properties"]["ctr_benchmark"]
    assert Draft202012Validator(schema).is_valid(value) is valid
    if isinstance(value, str):
        # a query parameter is the same text: the server agrees with the document
        caller = await new_caller(client, db, settings)
        response = await client.get(
            "/api/v1/analytics/performance", params={"ctr_benchmark": value}, headers=caller.headers
        )
        assert (response.status == 200) is valid, await response.text()


async def test_no_documented_string_may_hold_nul(document):
    patterns = re.findall(r'"pattern":\s*"([^"]*)"', orjson.dumps(document).decode())
    assert patterns
    login = document["components"]["schemas"]["LoginIn"]["properties"]["password"]
    assert not Draft202012Validator(login).is_valid("pass\x00word")
