"""The n8n admin endpoints against a local n8n API double over real HTTP, and the local workflow validator."""

from __future__ import annotations

import copy

import pytest
from accounts.helpers import insert_account, new_caller
from webhooks.helpers import run_webhook_worker
from webhooks.n8n_double import API_KEY, N8N_STATE, create_n8n_double

from adsvc.integrations.n8n_workflows import validate_workflow
from adsvc.keys import ARQ, ENDPOINTS, PG
from adsvc.webhooks.deliveries import emit_event


@pytest.fixture
async def n8n(aiohttp_server, monkeypatch):
    server = await aiohttp_server(create_n8n_double())
    monkeypatch.setenv("N8N_API_URL", str(server.make_url("/api/v1")))
    monkeypatch.setenv("N8N_API_KEY", API_KEY)
    monkeypatch.setenv("ADSVC_PUBLIC_URL", "http://adsvc.internal:8000")
    return server


@pytest.fixture
async def admin(client, db, settings):
    return await new_caller(client, db, settings, is_admin=True)


async def test_list_follows_n8n_cursor_pages(client, n8n, admin):
    state = n8n.app[N8N_STATE]
    for index in range(5):
        state.workflows.append({"id": f"x{index}", "name": f"flow {index}", "active": index == 0, "nodes": [],
                                "connections": {}, "tags": [{"id": "1", "name": "ads"}]})  # fmt: skip
    response = await client.get("/api/v1/admin/n8n/workflows", headers=admin.headers)
    assert response.status == 200, await response.text()
    data = (await response.json())["data"]
    assert [item["id"] for item in data] == ["x0", "x1", "x2", "x3", "x4"]
    assert data[0]["active"] is True and data[0]["tags"] == ["ads"]


async def test_metrics_workflow_calls_the_export_endpoint_with_an_api_key_credential(client, n8n, admin):
    response = await client.post(
        "/api/v1/admin/n8n/workflows/metrics",
        json={"api_key": "adsvc_live_0123456789abcdef", "every_hours": 6, "days": 3},
        headers=admin.headers,
    )
    assert response.status == 201, await response.text()
    body = await response.json()
    state = n8n.app[N8N_STATE]
    [credential] = state.credentials
    assert credential["type"] == "httpHeaderAuth"
    assert credential["data"] == {"name": "X-API-Key", "value": "adsvc_live_0123456789abcdef"}
    [stored] = state.workflows
    assert stored["id"] == body["id"] and stored["active"] is False
    nodes = {node["name"]: node for node in stored["nodes"]}
    trigger = next(node for node in nodes.values() if node["type"] == "n8n-nodes-base.scheduleTrigger")
    assert trigger["parameters"]["rule"]["interval"] == [{"field": "hours", "hoursInterval": 6}]
    http = next(node for node in nodes.values() if node["type"] == "n8n-nodes-base.httpRequest")
    assert http["parameters"]["url"] == "http://adsvc.internal:8000/api/v1/metrics/export"
    assert http["credentials"] == {"httpHeaderAuth": {"id": credential["id"], "name": credential["name"]}}
    query = {p["name"]: p["value"] for p in http["parameters"]["queryParameters"]["parameters"]}
    assert set(query) == {"date_from", "date_until"} and "days: 3" in query["date_from"]
    assert stored["connections"][trigger["name"]]["main"][0][0]["node"] == http["name"]
    # the endpoint the workflow calls exists in adsvc, with the API-key auth its credential provides
    export = client.app[ENDPOINTS]["metrics-export"]
    assert export.path == "/api/v1/metrics/export" and export.auth.value == "api_key"
    assert validate_workflow(stored).valid


@pytest.mark.parametrize("kind", ["metrics", "alerts"])
@pytest.mark.parametrize("name", ["   ", "\t\n", "\u2003"])
async def test_a_workflow_name_of_only_whitespace_is_a_422_and_reaches_no_n8n(client, n8n, admin, kind, name):
    body = {"name": name, **({"credential_id": "c1"} if kind == "metrics" else {})}
    response = await client.post(f"/api/v1/admin/n8n/workflows/{kind}", json=body, headers=admin.headers)
    assert response.status == 422, await response.text()
    assert [detail["loc"] for detail in (await response.json())["error"]["details"]] == [["name"]]
    assert n8n.app[N8N_STATE].workflows == []


async def test_metrics_workflow_with_an_existing_credential_and_activation(client, n8n, admin):
    body = {"credential_id": "cred-existing", "activate": True}
    response = await client.post("/api/v1/admin/n8n/workflows/metrics", json=body, headers=admin.headers)
    assert response.status == 201, await response.text()
    assert (await response.json())["active"] is True
    [stored] = n8n.app[N8N_STATE].workflows
    assert n8n.app[N8N_STATE].credentials == []
    assert stored["active"] is True
    both = await client.post("/api/v1/admin/n8n/workflows/metrics",
                             json={"credential_id": "c", "api_key": "k" * 20}, headers=admin.headers)  # fmt: skip
    assert both.status == 422


async def test_alerts_workflow_receives_our_signed_webhook_deliveries(
    client, db, stack, n8n, admin, worker_env, local_receivers
):
    response = await client.post(
        "/api/v1/admin/n8n/workflows/alerts",
        json={"path": "adsvc-alerts-test", "slack_webhook_url": "https://hooks.slack.com/services/T/B/X",
              "activate": True},
        headers=admin.headers,
    )  # fmt: skip
    assert response.status == 201, await response.text()
    body = await response.json()
    assert body["webhook_url"] == str(n8n.make_url("/webhook/adsvc-alerts-test"))
    [stored] = n8n.app[N8N_STATE].workflows
    types = [node["type"] for node in stored["nodes"]]
    assert types == ["n8n-nodes-base.webhook", "n8n-nodes-base.set", "n8n-nodes-base.httpRequest"]
    assert stored["nodes"][2]["parameters"]["url"] == "https://hooks.slack.com/services/T/B/X"

    # subscribe the n8n webhook URL with our API, as the response tells the admin to, and emit an alert
    account_id = await insert_account(db, user_id=admin.user.id)
    created = await client.post("/api/v1/webhooks", json={"url": body["webhook_url"], "events": ["alert.ctr_drop"]},
                                headers=admin.headers)  # fmt: skip
    assert created.status == 201
    await emit_event(client.app[PG], client.app[ARQ], event="alert.ctr_drop",
                     account_id=account_id, data={"ctr": "0.4"})  # fmt: skip
    await run_webhook_worker(stack)
    [call] = n8n.app[N8N_STATE].webhook_calls
    assert call["body"]["event"] == "alert.ctr_drop" and call["body"]["account_id"] == account_id
    assert call["headers"]["X-Adsvc-Signature"].startswith("sha256=")


async def test_upstream_failures_are_typed(client, n8n, admin, monkeypatch):
    monkeypatch.setenv("N8N_API_KEY", "wrong")
    refused = await client.get("/api/v1/admin/n8n/workflows", headers=admin.headers)
    assert refused.status == 502 and (await refused.json())["error"]["code"] == "n8n_auth_failed"
    monkeypatch.setenv("N8N_API_URL", "http://127.0.0.1:9/api/v1")
    down = await client.get("/api/v1/admin/n8n/workflows", headers=admin.headers)
    assert down.status == 502 and (await down.json())["error"]["code"] == "n8n_unreachable"
    monkeypatch.delenv("N8N_API_URL")
    unset = await client.get("/api/v1/admin/n8n/workflows", headers=admin.headers)
    assert unset.status == 503 and (await unset.json())["error"]["code"] == "n8n_not_configured"


async def test_n8n_endpoints_are_for_admins_only(client, db, settings, n8n):
    user = await new_caller(client, db, settings)
    assert (await client.get("/api/v1/admin/n8n/workflows", headers=user.headers)).status == 403
    validate = await client.post("/api/v1/admin/n8n/workflows/validate", json={"workflow": {}}, headers=user.headers)
    assert validate.status == 403
    assert n8n.app[N8N_STATE].workflows == []


GOOD = {
    "name": "ok",
    "nodes": [
        {"id": "1", "name": "Hook", "type": "n8n-nodes-base.webhook", "typeVersion": 2, "position": [0, 0],
         "parameters": {"path": "x", "httpMethod": "POST"}},
        {"id": "2", "name": "Slack", "type": "n8n-nodes-base.httpRequest", "typeVersion": 4.2, "position": [200, 0],
         "parameters": {}, "credentials": {"httpHeaderAuth": {"id": "7", "name": "key"}}},
    ],
    "connections": {"Hook": {"main": [[{"node": "Slack", "type": "main", "index": 0}]]}},
    "settings": {},
}  # fmt: skip


async def test_validate_endpoint_accepts_a_good_workflow_and_lists_what_is_wrong(client, admin):
    ok = await client.post("/api/v1/admin/n8n/workflows/validate", json={"workflow": GOOD}, headers=admin.headers)
    assert ok.status == 200
    body = await ok.json()
    assert body["valid"] is True and body["errors"] == [] and body["triggers"] == ["Hook"]
    assert body["credentials"] == [{"node": "Slack", "type": "httpHeaderAuth", "id": "7", "name": "key"}]

    bad = copy.deepcopy(GOOD)
    bad["nodes"][0]["type"] = "n8n-nodes-base.set"  # no trigger left
    bad["nodes"].append({**bad["nodes"][1], "id": "3"})  # "Slack" twice
    bad["nodes"].append({"id": "4", "name": "Odd", "type": "acme.mystery", "typeVersion": 1, "position": [0, 0],
                         "parameters": {}})  # fmt: skip
    bad["connections"]["Slack"] = {"main": [[{"node": "Nowhere", "type": "main", "index": 0}]]}
    bad["connections"]["Ghost"] = {"main": [[{"node": "Slack", "type": "main", "index": 0}]]}
    response = await client.post("/api/v1/admin/n8n/workflows/validate", json={"workflow": bad}, headers=admin.headers)
    body = await response.json()
    assert body["valid"] is False
    messages = " | ".join(error["message"] for error in body["errors"])
    assert "'Slack' is used twice" in messages
    assert "unknown node type 'acme.mystery'" in messages
    assert "connection to 'Nowhere'" in messages and "connection from 'Ghost'" in messages
    assert "no trigger node" in messages


def test_validator_warns_about_nodes_no_trigger_reaches():
    workflow = copy.deepcopy(GOOD)
    workflow["nodes"].append({"name": "Lonely", "type": "n8n-nodes-base.noOp", "typeVersion": 1, "position": [0, 9],
                              "parameters": {}})  # fmt: skip
    result = validate_workflow(workflow)
    assert result.valid and [w["message"] for w in result.warnings] == ["node 'Lonely' is not reached from any trigger"]
    assert not validate_workflow({"name": "x", "nodes": [{"name": "A"}], "connections": []}).valid
    assert not validate_workflow([]).valid
