"""n8n workflow JSON: the two workflows adsvc creates (metrics export, alerts) and a local validator. No I/O."""

from __future__ import annotations

import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

SCHEDULE = "n8n-nodes-base.scheduleTrigger"
HTTP_REQUEST = "n8n-nodes-base.httpRequest"
WEBHOOK = "n8n-nodes-base.webhook"
SET = "n8n-nodes-base.set"
SPLIT_OUT = "n8n-nodes-base.splitOut"
STICKY_NOTE = "n8n-nodes-base.stickyNote"

TRIGGER_TYPES = frozenset(
    {
        SCHEDULE,
        WEBHOOK,
        "n8n-nodes-base.manualTrigger",
        "n8n-nodes-base.cron",
        "n8n-nodes-base.interval",
        "n8n-nodes-base.start",
        "n8n-nodes-base.formTrigger",
        "n8n-nodes-base.errorTrigger",
        "n8n-nodes-base.executeWorkflowTrigger",
        "n8n-nodes-base.emailReadImap",
        "n8n-nodes-base.n8nTrigger",
        "n8n-nodes-base.slackTrigger",
        "n8n-nodes-base.telegramTrigger",
        "n8n-nodes-base.rssFeedReadTrigger",
        "n8n-nodes-base.localFileTrigger",
        "n8n-nodes-base.postgresTrigger",
        "n8n-nodes-base.redisTrigger",
        "n8n-nodes-base.notionTrigger",
        "n8n-nodes-base.googleSheetsTrigger",
        "n8n-nodes-base.facebookLeadAdsTrigger",
        "@n8n/n8n-nodes-langchain.chatTrigger",
    }
)
KNOWN_NODE_TYPES = TRIGGER_TYPES | frozenset(
    f"n8n-nodes-base.{name}"
    for name in (
        "httpRequest", "set", "code", "function", "functionItem", "if", "switch", "merge", "noOp", "wait",
        "splitOut", "splitInBatches", "aggregate", "filter", "sort", "limit", "removeDuplicates", "summarize",
        "itemLists", "dateTime", "crypto", "xml", "html", "markdown", "respondToWebhook", "executeWorkflow",
        "stopAndError", "stickyNote", "slack", "telegram", "discord", "microsoftTeams", "emailSend", "gmail",
        "googleSheets", "notion", "airtable", "postgres", "mySql", "redis", "spreadsheetFile", "convertToFile",
        "extractFromFile", "readWriteFile", "facebookGraphApi", "executeCommand", "compareDatasets", "renameKeys",
        "n8n", "errorTrigger",
    )
)  # fmt: skip


def _id() -> str:
    return str(uuid.uuid4())


def metrics_workflow(
    *,
    name: str,
    adsvc_url: str,
    credential_id: str,
    credential_name: str,
    every_hours: int,
    days: int,
) -> dict[str, Any]:
    """A Schedule trigger and an HTTP Request to adsvc's GET /api/v1/metrics/export (the last `days` complete days),
    authenticated by an n8n Header Auth credential holding `X-API-Key`; the rows are split into one item each."""
    trigger, fetch, split = "Schedule", "Fetch adsvc metrics", "One item per row"
    interval = (
        {"field": "days", "daysInterval": 1, "triggerAtHour": 6}
        if every_hours == 24
        else {"field": "hours", "hoursInterval": every_hours}
    )
    return {
        "name": name,
        "nodes": [
            {
                "id": _id(),
                "name": trigger,
                "type": SCHEDULE,
                "typeVersion": 1.2,
                "position": [0, 0],
                "parameters": {"rule": {"interval": [interval]}},
            },
            {
                "id": _id(),
                "name": fetch,
                "type": HTTP_REQUEST,
                "typeVersion": 4.2,
                "position": [240, 0],
                "parameters": {
                    "method": "GET",
                    "url": f"{adsvc_url}/api/v1/metrics/export",
                    "authentication": "genericCredentialType",
                    "genericAuthType": "httpHeaderAuth",
                    "sendQuery": True,
                    "queryParameters": {
                        "parameters": [
                            {"name": "date_from", "value": f"={{{{ $today.minus({{days: {days}}}).toISODate() }}}}"},
                            {"name": "date_until", "value": "={{ $today.minus({days: 1}).toISODate() }}"},
                        ]
                    },
                    "options": {},
                },
                "credentials": {"httpHeaderAuth": {"id": credential_id, "name": credential_name}},
            },
            {
                "id": _id(),
                "name": split,
                "type": SPLIT_OUT,
                "typeVersion": 1,
                "position": [480, 0],
                "parameters": {"fieldToSplitOut": "rows", "options": {}},
            },
        ],
        "connections": {
            trigger: {"main": [[{"node": fetch, "type": "main", "index": 0}]]},
            fetch: {"main": [[{"node": split, "type": "main", "index": 0}]]},
        },
        "settings": {"executionOrder": "v1"},
    }


def alerts_workflow(*, name: str, path: str, slack_webhook_url: str | None) -> dict[str, Any]:
    """A Webhook trigger (subscribe its production URL with POST /api/v1/webhooks, format json) that turns adsvc's
    envelope into a one-line message, and posts it to a Slack incoming webhook when one is given."""
    trigger, extract = "adsvc event", "Summarise event"
    nodes: list[dict[str, Any]] = [
        {
            "id": _id(),
            "name": trigger,
            "type": WEBHOOK,
            "typeVersion": 2,
            "position": [0, 0],
            "webhookId": _id(),
            "parameters": {"httpMethod": "POST", "path": path, "responseMode": "onReceived", "options": {}},
        },
        {
            "id": _id(),
            "name": extract,
            "type": SET,
            "typeVersion": 3.4,
            "position": [240, 0],
            "parameters": {
                "assignments": {
                    "assignments": [
                        {"id": _id(), "name": "event", "value": "={{ $json.body.event }}", "type": "string"},
                        {"id": _id(), "name": "account_id", "value": "={{ $json.body.account_id }}", "type": "string"},
                        {
                            "id": _id(),
                            "name": "text",
                            "value": "=adsvc {{ $json.body.event }} on account {{ $json.body.account_id }}: "
                            "{{ JSON.stringify($json.body.data) }}",
                            "type": "string",
                        },
                        {"id": _id(), "name": "data", "value": "={{ $json.body.data }}", "type": "object"},
                    ]
                },
                "options": {},
            },
        },
    ]
    connections: dict[str, Any] = {trigger: {"main": [[{"node": extract, "type": "main", "index": 0}]]}}
    if slack_webhook_url:
        slack = "Post to Slack"
        nodes.append(
            {
                "id": _id(),
                "name": slack,
                "type": HTTP_REQUEST,
                "typeVersion": 4.2,
                "position": [480, 0],
                "parameters": {
                    "method": "POST",
                    "url": slack_webhook_url,
                    "sendBody": True,
                    "specifyBody": "json",
                    "jsonBody": "={{ JSON.stringify({ text: $json.text }) }}",
                    "options": {},
                },
            }
        )
        connections[extract] = {"main": [[{"node": slack, "type": "main", "index": 0}]]}
    return {"name": name, "nodes": nodes, "connections": connections, "settings": {"executionOrder": "v1"}}


@dataclass
class Validation:
    errors: list[dict[str, str]] = field(default_factory=list)
    warnings: list[dict[str, str]] = field(default_factory=list)
    triggers: list[str] = field(default_factory=list)
    credentials: list[dict[str, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.errors

    def error(self, path: str, message: str) -> None:
        self.errors.append({"path": path, "message": message})

    def warn(self, path: str, message: str) -> None:
        self.warnings.append({"path": path, "message": message})


def _is_trigger(node_type: str) -> bool:
    return node_type in TRIGGER_TYPES or node_type.endswith("Trigger")


def _check_node(index: int, node: Any, result: Validation) -> str | None:
    path = f"nodes[{index}]"
    if not isinstance(node, dict):
        result.error(path, "a node must be an object")
        return None
    name = node.get("name")
    if not isinstance(name, str) or not name.strip():
        result.error(f"{path}.name", "a node needs a non-empty name")
        name = None
    node_type = node.get("type")
    if not isinstance(node_type, str) or not node_type:
        result.error(f"{path}.type", "a node needs a type")
    elif node_type not in KNOWN_NODE_TYPES:
        result.error(f"{path}.type", f"unknown node type {node_type!r}")
    elif _is_trigger(node_type) and name:
        result.triggers.append(name)
    version = node.get("typeVersion")
    if isinstance(version, bool) or not isinstance(version, int | float) or version <= 0:
        result.error(f"{path}.typeVersion", "typeVersion must be a positive number")
    position = node.get("position")
    if not (
        isinstance(position, list)
        and len(position) == 2
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in position)
    ):
        result.error(f"{path}.position", "position must be [x, y]")
    if not isinstance(node.get("parameters", {}), dict):
        result.error(f"{path}.parameters", "parameters must be an object")
    credentials = node.get("credentials", {})
    if not isinstance(credentials, dict):
        result.error(f"{path}.credentials", "credentials must be an object")
    else:
        for kind, ref in credentials.items():
            if not isinstance(ref, dict) or not (ref.get("id") or ref.get("name")):
                result.error(f"{path}.credentials.{kind}", "a credential reference needs an id or a name")
            else:
                result.credentials.append(
                    {
                        "node": name or "",
                        "type": kind,
                        "id": str(ref.get("id") or ""),
                        "name": str(ref.get("name") or ""),
                    }
                )
    if node.get("disabled") is True:
        result.warn(path, f"node {name!r} is disabled")
    return name


def _check_connections(connections: Any, names: set[str], result: Validation) -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {}
    if not isinstance(connections, dict):
        result.error("connections", "connections must be an object keyed by source node name")
        return edges
    for source, outputs in connections.items():
        path = f"connections.{source}"
        if source not in names:
            result.error(path, f"connection from {source!r}, which is not a node of this workflow")
        if not isinstance(outputs, dict):
            result.error(path, "a node's connections must be an object keyed by output type (main)")
            continue
        for output_type, branches in outputs.items():
            if not isinstance(branches, list):
                result.error(f"{path}.{output_type}", "outputs must be a list of lists of connections")
                continue
            for b, branch in enumerate(branches):
                if branch is None:
                    continue  # an output with nothing connected
                if not isinstance(branch, list):
                    result.error(f"{path}.{output_type}[{b}]", "each output must be a list of connections")
                    continue
                for c, target in enumerate(branch):
                    where = f"{path}.{output_type}[{b}][{c}]"
                    if not isinstance(target, dict) or not isinstance(target.get("node"), str):
                        result.error(where, "a connection needs the target node's name")
                        continue
                    if target["node"] not in names:
                        result.error(where, f"connection to {target['node']!r}, which is not a node of this workflow")
                        continue
                    index = target.get("index", 0)
                    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                        result.error(where, "index must be a non-negative integer")
                    edges.setdefault(source, set()).add(target["node"])
    return edges


def validate_workflow(workflow: Any) -> Validation:
    """What n8n would refuse or silently mis-run: unique node names, connections between existing nodes, a
    trigger, known node types; nodes no trigger reaches are reported as warnings."""
    result = Validation()
    if not isinstance(workflow, dict):
        result.error("", "a workflow must be a JSON object")
        return result
    if not isinstance(workflow.get("name"), str) or not workflow["name"].strip():
        result.error("name", "the workflow needs a non-empty name")
    nodes = workflow.get("nodes")
    if not isinstance(nodes, list) or not nodes:
        result.error("nodes", "the workflow needs a non-empty list of nodes")
        nodes = []
    names: list[str] = []
    ids: set[str] = set()
    for index, node in enumerate(nodes):
        name = _check_node(index, node, result)
        if name is None:
            continue
        if name in names:
            result.error(f"nodes[{index}].name", f"node name {name!r} is used twice (connections refer to names)")
        names.append(name)
        node_id = node.get("id")
        if node_id is not None:
            if str(node_id) in ids:
                result.error(f"nodes[{index}].id", f"node id {node_id!r} is used twice")
            ids.add(str(node_id))
    if "settings" in workflow and not isinstance(workflow["settings"], dict):
        result.error("settings", "settings must be an object")
    edges = _check_connections(workflow.get("connections", {}), set(names), result)
    if nodes and not result.triggers:
        result.error("nodes", "the workflow has no trigger node, so nothing would ever start it")
    reached = set(result.triggers)
    queue = deque(result.triggers)
    while queue:
        for target in edges.get(queue.popleft(), ()):
            if target not in reached:
                reached.add(target)
                queue.append(target)
    sticky = {
        node["name"]
        for node in nodes
        if isinstance(node, dict)
        and node.get("type") == "n8n-nodes-base.stickyNote"
        and isinstance(node.get("name"), str)
    }
    for name in names:
        if name not in reached and name not in sticky and result.triggers:
            result.warn("connections", f"node {name!r} is not reached from any trigger")
    return result
