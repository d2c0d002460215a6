"""Graph API semantics over the sandbox state (routing, tokens, faults, score, paging, insights, report runs,
updates); no I/O: the server turns HTTP into GraphRequests and GraphResponses back into HTTP."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import orjson
from facebook_business.adobjects.ad import Ad
from facebook_business.adobjects.adaccount import AdAccount as SdkAdAccount
from facebook_business.adobjects.adreportrun import AdReportRun
from facebook_business.adobjects.adset import AdSet
from facebook_business.adobjects.adsinsights import AdsInsights
from facebook_business.adobjects.campaign import Campaign

from adsvc.sandbox import errors
from adsvc.sandbox.data import (
    BREAKDOWN_VALUES,
    HIDDEN_STATUSES,
    LEVELS,
    RETURNED_WINDOWS,
    STATUSES,
    AdAccount,
    AdObject,
    InsightsQuery,
    SandboxConfig,
    SandboxData,
)
from adsvc.sandbox.errors import GraphError
from adsvc.sandbox.faults import FaultInjector, FaultProfile, JobFate
from adsvc.sandbox.scoring import ScoreBoard

SANDBOX_ACCESS_TOKEN = "sandbox-access-token"  # noqa: S105 (a public, fixed test token)
SANDBOX_USER = {"id": "100000000000001", "name": "Sandbox User"}
MAX_BATCH = 50
BUDGET_CHANGES_PER_HOUR = 4
# Query parameters every Graph call may carry; they are never "unknown parameters" of an update.
TRANSPORT_PARAMS = frozenset(
    {"access_token", "appsecret_proof", "format", "method", "pretty", "suppress_http_code", "locale", "debug",
     "include_headers", "fields", "transport", "sdk", "batch_app_id"}
)  # fmt: skip


def _vocabulary(sdk_class: Any) -> frozenset[str]:
    # The official SDK's Field classes are the public field lists of each node type: names outside them are unknown.
    return frozenset(value for name, value in vars(sdk_class.Field).items() if not name.startswith("_"))


def _enum(values: type) -> frozenset[str]:
    return frozenset(value for name, value in vars(values).items() if not name.startswith("_"))


NODE_FIELDS = {
    "campaign": _vocabulary(Campaign),
    "adset": _vocabulary(AdSet),
    "ad": _vocabulary(Ad),
    "account": _vocabulary(SdkAdAccount),
    "report_run": _vocabulary(AdReportRun),
    "user": frozenset({"id", "name"}),
}
NODE_TYPE = {
    "campaign": "AdCampaignGroup",
    "adset": "AdCampaign",
    "ad": "Adgroup",
    "account": "AdAccount",
    "report_run": "AdReportRun",
    "user": "User",
}
INSIGHTS_FIELDS = _vocabulary(AdsInsights)
ATTRIBUTION_WINDOWS = _enum(AdsInsights.ActionAttributionWindows)
KNOWN_BREAKDOWNS = _enum(AdsInsights.Breakdowns)
DATE_PRESETS = _enum(AdsInsights.DatePreset)
DEFAULT_INSIGHTS_FIELDS = ("impressions", "spend")
REPORT_RUN_FIELDS = (
    "id", "account_id", "time_ref", "time_completed", "async_status", "async_percent_completion", "date_start",
    "date_stop",
)  # fmt: skip
_JOB_STEPS = (("Job Not Started", 0), ("Job Started", 0), ("Job Running", 30), ("Job Running", 65), ("Job Running", 90))
_FILTER_OPERATORS = frozenset(
    {"IN", "NOT_IN", "EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_OR_EQUAL", "LESS_THAN",
     "LESS_THAN_OR_EQUAL", "CONTAIN", "NOT_CONTAIN"}
)  # fmt: skip
_KIND_DEPTH = {"account": 0, "campaign": 1, "adset": 2, "ad": 3}


@dataclass(slots=True)
class GraphRequest:
    """One Graph call: a top-level HTTP request or one entry of a batch."""

    method: str
    path: str
    params: dict[str, str]
    token: str | None
    base_url: str
    version: str = "v26.0"


@dataclass(slots=True)
class GraphResponse:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    # Heavy bodies (insights pages) are built by calling this, off the event loop.
    compute: Callable[[], Any] | None = None


@dataclass(slots=True)
class ReportRun:
    id: str
    account_id: str
    query: InsightsQuery
    fate: JobFate
    time_ref: int
    polls: int = 0
    time_completed: int = 0

    def step(self) -> tuple[str, int]:
        """The status this run shows after `polls` polls."""
        index = max(0, self.polls - 1)
        if self.fate.stuck:
            return _JOB_STEPS[0]
        if self.fate.failed:
            return _JOB_STEPS[min(index, 2)] if index < 3 else ("Job Failed", 30)
        steps = [*_JOB_STEPS, *[("Job Running", 100)] * self.fate.running_at_100_polls, ("Job Completed", 100)]
        return steps[min(index, len(steps) - 1)]

    @property
    def completed(self) -> bool:
        return self.step()[0] == "Job Completed"


@dataclass(slots=True)
class CallStats:
    """Graph calls received, by account and by kind of path; batch entries count one each."""

    graph_calls: int = 0
    batch_requests: int = 0
    by_account: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    by_account_kind: dict[str, Counter[str]] = field(default_factory=dict)

    def count(self, account_id: str | None, kind: str) -> None:
        key = account_id or "app"
        self.graph_calls += 1
        self.by_account[key] += 1
        self.by_kind[kind] += 1
        self.by_account_kind.setdefault(key, Counter())[kind] += 1

    def to_json(self) -> dict[str, Any]:
        return {
            "graph_calls": self.graph_calls,
            "batch_requests": self.batch_requests,
            "by_account": dict(self.by_account),
            "by_kind": dict(self.by_kind),
            "by_account_kind": {key: dict(counts) for key, counts in self.by_account_kind.items()},
        }


@dataclass(slots=True)
class SandboxState:
    """Everything a sandbox server knows: data, faults, scores, stats, tokens, report runs, budget history."""

    config: SandboxConfig
    data: SandboxData
    faults: FaultInjector
    scores: ScoreBoard
    access_tokens: frozenset[str]
    app_secret: str | None
    clock: Callable[[], float]
    initial_faults: FaultProfile
    stats: CallStats = field(default_factory=CallStats)
    expired_tokens: dict[str, int] = field(default_factory=dict)
    report_runs: dict[str, ReportRun] = field(default_factory=dict)
    budget_changes: dict[str, list[float]] = field(default_factory=dict)
    budget_blocked_until: dict[str, float] = field(default_factory=dict)
    report_run_counter: int = 0

    @classmethod
    def create(
        cls,
        config: SandboxConfig,
        *,
        access_tokens: Iterable[str],
        app_secret: str | None,
        faults: FaultProfile | None,
        clock: Callable[[], float],
    ) -> SandboxState:
        profile = faults or FaultProfile()
        return cls(
            config=config,
            data=SandboxData(config),
            faults=FaultInjector(profile, clock),
            scores=ScoreBoard(config.tier, clock),
            access_tokens=frozenset(access_tokens),
            app_secret=app_secret,
            clock=clock,
            initial_faults=profile,
        )

    def reset(self) -> None:
        """Back to the state right after start: data, faults, scores, stats, tokens, runs and budget history."""
        self.data.reset()
        self.faults.replace(self.initial_faults)
        self.scores.buckets.clear()
        self.stats = CallStats()
        self.expired_tokens.clear()
        self.report_runs.clear()
        self.budget_changes.clear()
        self.budget_blocked_until.clear()

    def now(self) -> int:
        """Wall-clock unix time for updated_time, never before the generated history."""
        return max(int(time.time()), self.data.latest_generated_time + 1)


@dataclass(slots=True)
class Route:
    kind: str
    account_id: str | None
    handler: Callable[[SandboxState, GraphRequest, Route], GraphResponse]
    write: bool = False
    insights: bool = False
    target: Any = None
    edge: str = ""


# ---- dispatch --------------------------------------------------------------------------------------------------


def handle(state: SandboxState, request: GraphRequest) -> GraphResponse:
    """Answer one Graph call: count it, authenticate, inject faults, charge the score, then run its handler."""
    trace = errors.fbtrace_id()
    route: Route | None = None
    route_error: GraphError | None = None
    try:
        route = resolve(state, request)
    except GraphError as exc:
        route_error = exc
    account_id = route.account_id if route else None
    state.stats.count(account_id, route.kind if route else "unknown")
    extra_block = 0.0
    try:
        authenticate(state, request)
        if route is None:
            assert route_error is not None
            raise route_error
        fault = state.faults.before_call(account_id or "app")
        if fault is not None:
            raise fault
        refused = state.scores.charge(account_id, write=route.write)
        if refused is not None:
            raise errors.throttle(*refused)
        response = route.handler(state, request, route)
    except GraphError as exc:
        response = GraphResponse(exc.status, exc.envelope(trace))
        extra_block = exc.retry_seconds
    full = False
    if account_id is not None:
        extra_block = max(extra_block, state.faults.blocked_seconds(account_id))
        full = state.faults.usage_full(account_id)
    response.headers.update(
        state.scores.headers(
            account_id,
            insights=bool(route and route.insights),
            extra_block_seconds=extra_block,
            full=full,
            announce_eta=state.faults.profile.throttle_eta,
        )
    )
    response.headers["x-fb-trace-id"] = trace
    response.headers["facebook-api-version"] = request.version
    return response


def authenticate(state: SandboxState, request: GraphRequest) -> None:
    token = request.token
    if not token:
        raise errors.missing_token()
    if token in state.expired_tokens:
        raise errors.token_error(state.expired_tokens[token])
    if token not in state.access_tokens:
        raise errors.token_error()
    subcode = state.faults.token_subcode()
    if subcode is not None:
        raise errors.token_error(subcode)
    proof = request.params.get("appsecret_proof")
    if state.app_secret is not None and proof is not None:
        expected = hmac.new(state.app_secret.encode(), token.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, proof):
            raise errors.bad_appsecret_proof()


def resolve(state: SandboxState, request: GraphRequest) -> Route:
    """Map a method and relative path onto a handler; unknown objects and edges are Graph errors."""
    segments = [part for part in request.path.strip("/").split("/") if part]
    method = request.method.upper()
    if not segments:
        raise errors.unknown_path("")
    head, rest = segments[0], segments[1:]
    if len(rest) > 1:
        raise errors.unknown_path("/".join(rest[1:]))
    edge = rest[0] if rest else ""
    if head == "me":
        if method == "GET" and edge == "":
            return Route("me", None, _get_me)
        if method == "GET" and edge == "adaccounts":
            return Route("me/adaccounts", None, _get_my_accounts)
        raise errors.unknown_path(edge) if edge else errors.no_such_object(head, method.lower())
    if head.startswith("act_"):
        account = state.data.account(head)
        if account is None:
            raise errors.no_such_object(head, method.lower())
        if method == "GET" and edge == "":
            return Route("account", account.account_id, _get_account, target=account)
        if method == "GET" and edge in ("campaigns", "adsets", "ads"):
            return Route(edge, account.account_id, _get_edge, target=account, edge=edge)
        if edge == "insights" and method in ("GET", "POST"):
            if method == "GET":
                return Route("insights", account.account_id, _get_insights, insights=True, target=account)
            return Route("insights_async", account.account_id, _post_insights, insights=True, target=account)
        if edge and edge not in ("campaigns", "adsets", "ads", "insights"):
            raise errors.unknown_path(edge)
        raise errors.invalid_parameter(f"The sandbox does not support {method} on {request.path.strip('/')}")
    run = state.report_runs.get(head)
    if run is not None:
        if method == "GET" and edge == "":
            return Route("report_run", run.account_id, _get_report_run, insights=True, target=run)
        if method == "GET" and edge == "insights":
            return Route("report_run/insights", run.account_id, _get_report_results, insights=True, target=run)
        raise errors.unknown_path(edge) if edge else errors.no_such_object(head, method.lower())
    obj = state.data.node(head)
    if obj is None:
        raise errors.no_such_object(head, method.lower())
    if edge == "":
        if method == "GET":
            return Route(f"node/{obj.kind}", obj.account_id, _get_node, target=obj)
        if method in ("POST", "DELETE"):
            return Route("update", obj.account_id, _update_node, write=True, target=obj)
    children = {"campaign": ("adsets", "ads"), "adset": ("ads",), "ad": ()}[obj.kind]
    if method == "GET" and edge in children:
        return Route(edge, obj.account_id, _get_edge, target=obj, edge=edge)
    if edge == "insights" and method == "GET":
        return Route("insights", obj.account_id, _get_insights, insights=True, target=obj)
    if edge == "insights" and method == "POST":
        return Route("insights_async", obj.account_id, _post_insights, insights=True, target=obj)
    if edge and edge not in (*children, "insights"):
        raise errors.unknown_path(edge)
    raise errors.no_such_object(head, method.lower())


# ---- parameters ------------------------------------------------------------------------------------------------


def _json_param(params: Mapping[str, str], name: str) -> Any:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise errors.invalid_parameter(f"Param {name} must be a JSON value") from None


def _list_param(params: Mapping[str, str], name: str) -> list[str] | None:
    """A list parameter, JSON-encoded (`["a","b"]`) or comma-joined (`a,b`)."""
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if raw.startswith("["):
        value = _json_param(params, name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise errors.invalid_parameter(f"Param {name} must be an array of strings")
        return value
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_fields(params: Mapping[str, str]) -> list[str] | None:
    """Field names from `fields` (comma-joined on GET, a JSON array on POST); `creative{id}` counts as `creative`."""
    raw = params.get("fields")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if raw.startswith("["):
        names = _list_param(params, "fields") or []
    else:
        names, depth, current = [], 0, ""
        for char in raw:
            # Commas inside a field expansion (`creative{id,name}`) do not separate top-level fields.
            depth += (char == "{") - (char == "}")
            if char == "," and depth == 0:
                names.append(current)
                current = ""
            else:
                current += char
        names.append(current)
    result = []
    for name in names:
        base = name.strip().split("{")[0].split(".")[0].strip()
        if base and base not in result:
            result.append(base)
    return result


def _check_fields(fields: list[str], kind: str) -> None:
    for name in fields:
        if name not in NODE_FIELDS[kind]:
            raise errors.nonexisting_field(name, NODE_TYPE[kind])


def _pick(full: Mapping[str, Any], fields: list[str] | None, default: tuple[str, ...]) -> dict[str, Any]:
    # Graph answers a node's id whatever fields were asked for.
    picked = {name: full[name] for name in (fields or default) if name in full}
    return {"id": full["id"], **picked} if "id" in full else picked


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    after: int | None
    before: int | None
    snapshot: int | None


def encode_cursor(offset: int, snapshot: int) -> str:
    return base64.urlsafe_b64encode(f"sbx:{offset}:{snapshot}".encode()).decode().rstrip("=")


def decode_cursor(raw: str) -> tuple[int, int]:
    try:
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        tag, offset, snapshot = text.split(":")
        if tag != "sbx":
            raise ValueError(tag)
        return int(offset), int(snapshot)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise errors.invalid_parameter("Invalid cursor") from None


def _page_request(config: SandboxConfig, params: Mapping[str, str]) -> PageRequest:
    raw_limit = params.get("limit")
    limit = config.default_page_size
    if raw_limit not in (None, ""):
        try:
            limit = int(str(raw_limit))
        except ValueError:
            raise errors.invalid_parameter("Param limit must be an integer") from None
        if limit < 1:
            raise errors.invalid_parameter("Param limit must be a positive integer")
    limit = min(limit, config.max_page_size)
    after = before = snapshot = None
    if params.get("after"):
        after, snapshot = decode_cursor(params["after"])
    elif params.get("before"):
        before, snapshot = decode_cursor(params["before"])
    return PageRequest(limit, after, before, snapshot)


def _wants_summary(params: Mapping[str, str]) -> bool:
    raw = (params.get("summary") or "").strip().lower()
    return raw in ("true", "1", "total_count") or "total_count" in raw


def _page_body(
    request: GraphRequest,
    page: PageRequest,
    total: int,
    rows: Callable[[int, int], list[Any]],
    snapshot: int,
    *,
    summary: bool,
) -> dict[str, Any]:
    """One page in Graph's shape: `next` only when more rows follow, `previous` only when rows precede."""
    if page.after is not None:
        start = min(page.after, total)
        end = min(total, start + page.limit)
    elif page.before is not None:
        end = min(page.before, total)
        start = max(0, end - page.limit)
    else:
        start, end = 0, min(total, page.limit)
    body: dict[str, Any] = {"data": rows(start, end)}
    if end > start:
        paging: dict[str, Any] = {
            "cursors": {"before": encode_cursor(start, snapshot), "after": encode_cursor(end, snapshot)}
        }
        if start > 0:
            paging["previous"] = _page_url(request, "before", encode_cursor(start, snapshot))
        if end < total:
            paging["next"] = _page_url(request, "after", encode_cursor(end, snapshot))
        body["paging"] = paging
    if summary:
        body["summary"] = {"total_count": total}
    return body


def _page_url(request: GraphRequest, name: str, cursor: str) -> str:
    params = {key: value for key, value in request.params.items() if key not in ("after", "before")}
    if request.token and "access_token" not in params:
        params["access_token"] = request.token
    params[name] = cursor
    return f"{request.base_url}{request.path.strip('/')}?{urlencode(params)}"


# ---- filtering -------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    entity: str
    attribute: str
    operator: str
    value: Any


def parse_filtering(params: Mapping[str, str], own_kind: str) -> list[Condition]:
    """`filtering` JSON plus the `effective_status` shorthand, as conditions on the listed objects."""
    conditions = []
    raw = _json_param(params, "filtering")
    if raw is not None:
        if not isinstance(raw, list):
            raise errors.invalid_parameter("Param filtering must be an array of filter objects")
        for item in raw:
            if not isinstance(item, dict) or not {"field", "operator"} <= item.keys():
                raise errors.invalid_parameter("Each filtering entry needs field, operator and value")
            name, operator = str(item["field"]), str(item["operator"]).upper()
            if operator not in _FILTER_OPERATORS:
                raise errors.invalid_parameter(f"Filtering operator {operator} is not supported")
            entity, _, attribute = name.rpartition(".")
            entity = entity or own_kind
            if entity not in _KIND_DEPTH or attribute not in _FILTER_ATTRIBUTES:
                raise errors.invalid_parameter(f"Filtering field {name} is invalid")
            value = item.get("value")
            if operator in ("IN", "NOT_IN") and not isinstance(value, list):
                raise errors.invalid_parameter(f"Filtering operator {operator} needs an array value")
            conditions.append(Condition(entity, attribute, operator, value))
    statuses = _list_param(params, "effective_status")
    if statuses is not None:
        conditions.append(Condition(own_kind, "effective_status", "IN", statuses))
    return conditions


def _attribute(data: SandboxData, obj: AdObject, attribute: str) -> Any:
    if attribute == "effective_status":
        return data.effective_status(obj)
    if attribute in ("status", "configured_status"):
        return obj.status
    return getattr(obj, _FILTER_ATTRIBUTES[attribute])


_FILTER_ATTRIBUTES = {
    "id": "id",
    "name": "name",
    "effective_status": "",
    "status": "",
    "configured_status": "",
    "updated_time": "updated_time",
    "created_time": "created_time",
    "objective": "objective",
}


def _compare(actual: Any, operator: str, expected: Any) -> bool:
    if operator in ("IN", "NOT_IN"):
        found = str(actual) in {str(item) for item in expected}
        return found if operator == "IN" else not found
    if operator in ("CONTAIN", "NOT_CONTAIN"):
        found = str(expected).lower() in str(actual).lower()
        return found if operator == "CONTAIN" else not found
    if operator in ("EQUAL", "NOT_EQUAL"):
        same = str(actual) == str(expected)
        return same if operator == "EQUAL" else not same
    try:
        left, right = float(actual), float(expected)
    except (TypeError, ValueError):
        raise errors.invalid_parameter(f"Filtering operator {operator} needs a number") from None
    return {
        "GREATER_THAN": left > right,
        "GREATER_THAN_OR_EQUAL": left >= right,
        "LESS_THAN": left < right,
        "LESS_THAN_OR_EQUAL": left <= right,
    }[operator]


def _related(data: SandboxData, obj: AdObject, entity: str) -> list[AdObject]:
    """The objects a condition on `entity` looks at: the object itself, its parent, or its descendants."""
    if entity == obj.kind:
        return [obj]
    if _KIND_DEPTH[entity] < _KIND_DEPTH[obj.kind]:
        return [data.parent(obj, entity)] if entity != "account" else []
    found = [obj]
    while found and found[0].kind != entity:
        found = [data.nodes[child] for item in found for child in item.children]
    return found


def matches(data: SandboxData, obj: AdObject, conditions: list[Condition]) -> bool:
    """All conditions hold; a condition on a child kind holds when any descendant satisfies it."""
    for condition in conditions:
        related = _related(data, obj, condition.entity)
        if not any(_compare(_attribute(data, item, condition.attribute), condition.operator, condition.value)
                   for item in related):  # fmt: skip
            return False
    return True


def _visible(data: SandboxData, objects: Iterable[AdObject], conditions: list[Condition]) -> list[AdObject]:
    # Without an explicit effective_status condition Meta leaves archived and deleted objects out.
    explicit = any(condition.attribute == "effective_status" for condition in conditions)
    return [
        obj
        for obj in objects
        if (explicit or data.effective_status(obj) not in HIDDEN_STATUSES) and matches(data, obj, conditions)
    ]


# ---- handlers: users, accounts, objects ------------------------------------------------------------------------


def _get_me(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, "user")
    return GraphResponse(200, _pick(SANDBOX_USER, fields, ("id", "name")))


def _account_view(data: SandboxData, account: AdAccount, fields: list[str] | None) -> dict[str, Any]:
    return _pick(data.account_fields(account, spend=bool(fields and "amount_spent" in fields)), fields,
                 ("account_id", "id"))  # fmt: skip


def _get_my_accounts(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, "account")
    page = _page_request(state.config, request.params)
    accounts = list(state.data.accounts.values())
    body = _page_body(
        request,
        page,
        len(accounts),
        lambda start, end: [_account_view(state.data, account, fields) for account in accounts[start:end]],
        0,
        summary=_wants_summary(request.params),
    )
    return GraphResponse(200, body)


def _get_account(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, "account")
    if fields and "amount_spent" in fields:
        return GraphResponse(200, compute=lambda: _account_view(state.data, route.target, fields))
    return GraphResponse(200, _account_view(state.data, route.target, fields))


def _get_node(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    obj: AdObject = route.target
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, obj.kind)
    return GraphResponse(200, _pick(state.data.object_fields(obj), fields, ("id",)))


def _get_edge(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    kind = route.edge[:-1]
    data = state.data
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, kind)
    target = route.target
    candidates = data.by_account[target.account_id][kind]
    if isinstance(target, AdObject):
        parent_attr = "campaign_id" if target.kind == "campaign" else "adset_id"
        candidates = [obj for obj in candidates if getattr(obj, parent_attr) == target.id]
    objects = _visible(data, candidates, parse_filtering(request.params, kind))
    page = _page_request(state.config, request.params)
    body = _page_body(
        request,
        page,
        len(objects),
        lambda start, end: [_pick(data.object_fields(obj), fields, ("id",)) for obj in objects[start:end]],
        0,
        summary=_wants_summary(request.params),
    )
    return GraphResponse(200, body)


def _update_node(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    obj: AdObject = route.target
    params = {key: value for key, value in request.params.items() if key not in TRANSPORT_PARAMS}
    if request.method.upper() == "DELETE":
        params = {"status": "DELETED"}
    unknown = set(params) - {"status", "daily_budget", "name"}
    if unknown:
        raise errors.invalid_parameter(f"Param {sorted(unknown)[0]} is not a valid parameter for this update")
    if not params:
        raise errors.invalid_parameter("Nothing to update: pass status, daily_budget or name")
    if obj.status == "DELETED":
        raise errors.invalid_parameter(f"The {obj.kind} {obj.id} is deleted and cannot be updated")
    status = params.get("status")
    if status is not None:
        if status not in STATUSES:
            raise errors.invalid_parameter(f"Param status must be one of {{{', '.join(STATUSES)}}}")
        if obj.status == "ARCHIVED" and status not in ("ARCHIVED", "DELETED"):
            raise errors.invalid_parameter("An archived object can only be deleted")
    budget: int | None = None
    if "daily_budget" in params:
        try:
            budget = int(params["daily_budget"])
        except ValueError:
            raise errors.invalid_parameter("Param daily_budget must be an integer in minor units") from None
        if budget < 100:
            raise errors.invalid_parameter("Param daily_budget must be at least 100 (minor units)")
        if obj.daily_budget is None:
            raise errors.invalid_parameter(f"This {obj.kind} has no daily budget to change")
        _record_budget_change(state, obj)
    if status is not None:
        obj.status = status
    if budget is not None:
        obj.daily_budget = budget
    if "name" in params:
        obj.name = params["name"]
    obj.updated_time = state.now()
    return GraphResponse(200, {"success": True})


def _record_budget_change(state: SandboxState, obj: AdObject) -> None:
    """At most four budget changes per ad set per rolling hour; the fifth blocks changes for an hour."""
    now = state.clock()
    blocked_until = state.budget_blocked_until.get(obj.id, 0.0)
    if now < blocked_until:
        raise errors.budget_change_limit(blocked_until - now)
    recent = [at for at in state.budget_changes.get(obj.id, []) if now - at < 3600]
    if len(recent) >= BUDGET_CHANGES_PER_HOUR:
        state.budget_blocked_until[obj.id] = now + 3600
        raise errors.budget_change_limit(3600)
    recent.append(now)
    state.budget_changes[obj.id] = recent


# ---- insights --------------------------------------------------------------------------------------------------


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    year, month = divmod(index, 12)
    month += 1
    for candidate in range(day.day, 27, -1):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    return date(year, month, min(day.day, 28))


def preset_range(preset: str, today: date, first_data: date) -> tuple[date, date]:
    """The dates a `date_preset` covers, in the account's timezone (today is the sandbox's today)."""
    yesterday = today - timedelta(days=1)
    if preset == "today":
        return today, today
    if preset == "yesterday":
        return yesterday, yesterday
    if preset.startswith("last_") and preset.endswith("d") and preset[5:-1].isdigit():
        return today - timedelta(days=int(preset[5:-1])), yesterday
    month_start = today.replace(day=1)
    if preset == "this_month":
        return month_start, today
    if preset == "last_month":
        end = month_start - timedelta(days=1)
        return end.replace(day=1), end
    quarter_start = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    if preset == "this_quarter":
        return quarter_start, today
    if preset == "last_quarter":
        end = quarter_start - timedelta(days=1)
        return date(end.year, 3 * ((end.month - 1) // 3) + 1, 1), end
    if preset == "this_year":
        return date(today.year, 1, 1), today
    if preset == "last_year":
        return date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)
    monday = today - timedelta(days=today.weekday())
    sunday = today - timedelta(days=(today.weekday() + 1) % 7)
    if preset == "this_week_mon_today":
        return monday, today
    if preset == "this_week_sun_today":
        return sunday, today
    if preset == "last_week_mon_sun":
        return monday - timedelta(days=7), monday - timedelta(days=1)
    if preset == "last_week_sun_sat":
        return sunday - timedelta(days=7), sunday - timedelta(days=1)
    if preset in ("maximum", "data_maximum"):
        return first_data, yesterday
    raise errors.invalid_parameter(f"Param date_preset must be one of {{{', '.join(sorted(DATE_PRESETS))}}}")


def _parse_date(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise errors.invalid_parameter(f"Param {name} must be a date in YYYY-MM-DD format") from None


def _time_range(value: Any, name: str) -> tuple[date, date]:
    if not isinstance(value, dict) or "since" not in value or "until" not in value:
        raise errors.invalid_parameter(f"Param {name} must be an object with since and until")
    since, until = _parse_date(value["since"], f"{name}[since]"), _parse_date(value["until"], f"{name}[until]")
    if since > until:
        raise errors.invalid_parameter(f"Param {name}[since] must not be after {name}[until]")
    return since, until


def _buckets(ranges: list[tuple[date, date]], increment: str) -> list[tuple[int, int]]:
    buckets: list[tuple[int, int]] = []
    for since, until in ranges:
        start, stop = since.toordinal(), until.toordinal()
        if increment == "all_days":
            buckets.append((start, stop))
        elif increment == "monthly":
            day = since
            while day <= until:
                next_month = (day.replace(day=1) + timedelta(days=32)).replace(day=1)
                buckets.append((day.toordinal(), min(stop, next_month.toordinal() - 1)))
                day = next_month
        else:
            step = int(increment)
            buckets.extend((day, min(stop, day + step - 1)) for day in range(start, stop + 1, step))
    return buckets


def parse_insights(state: SandboxState, route: Route, params: Mapping[str, str], version: int) -> InsightsQuery:
    """Validate insights parameters as Meta does and resolve them into a query over the sandbox data."""
    data = state.data
    target = route.target
    node_level = "account" if isinstance(target, AdAccount) else target.kind
    account = data.accounts[target.account_id]
    level = params.get("level") or node_level
    if level not in LEVELS:
        raise errors.invalid_parameter(f"Param level must be one of {{{', '.join(LEVELS)}}}")
    if _KIND_DEPTH[level] < _KIND_DEPTH[node_level]:
        raise errors.invalid_parameter(f"Param level {level} is not valid on a {node_level} node")
    fields = parse_fields(params) or list(DEFAULT_INSIGHTS_FIELDS)
    for name in fields:
        if name not in INSIGHTS_FIELDS:
            raise errors.invalid_parameter(
                f"{name} is not valid for fields param. please check "
                "https://developers.facebook.com/docs/marketing-api/reference/ads-insights/ for all valid values"
            )
    today = date.fromordinal(data.today)
    first_data = date.fromordinal(data.first_day)
    ranges_param = _json_param(params, "time_ranges")
    range_param = _json_param(params, "time_range")
    if ranges_param is not None:
        if not isinstance(ranges_param, list) or not ranges_param:
            raise errors.invalid_parameter("Param time_ranges must be a non-empty array")
        ranges = [_time_range(item, "time_ranges") for item in ranges_param]
        increment = "all_days"
    else:
        if range_param is not None:
            ranges = [_time_range(range_param, "time_range")]
        else:
            ranges = [preset_range(params.get("date_preset") or "last_30d", today, first_data)]
        increment = (params.get("time_increment") or "all_days").strip()
        if increment not in ("all_days", "monthly") and not (increment.isdigit() and 1 <= int(increment) <= 90):
            raise errors.invalid_parameter("Param time_increment must be 1 to 90, monthly or all_days")
    oldest = _months_back(today, 37)
    if any(since < oldest for since, _ in ranges):
        raise errors.beyond_37_months()
    windows_param = _list_param(params, "action_attribution_windows") or []
    for window in windows_param:
        if window not in ATTRIBUTION_WINDOWS:
            raise errors.invalid_parameter(f"Param action_attribution_windows has an invalid value {window}")
    windows = tuple(window for window in windows_param if window in RETURNED_WINDOWS)
    breakdowns = _list_param(params, "breakdowns") or []
    for name in breakdowns:
        if name not in KNOWN_BREAKDOWNS:
            raise errors.invalid_parameter(f"Param breakdowns has an invalid value {name}")
        if name not in BREAKDOWN_VALUES:
            raise errors.invalid_parameter(
                f"The sandbox supports the breakdowns {', '.join(BREAKDOWN_VALUES)}; {name} is not available"
            )
    action_breakdowns = _list_param(params, "action_breakdowns") or ["action_type"]
    if action_breakdowns != ["action_type"]:
        raise errors.invalid_parameter('The sandbox supports only action_breakdowns=["action_type"]')
    conditions = parse_filtering(params, level) if level != "account" else []
    if level == "account":
        # Account rows always carry the whole account; id filters would need partial sums the sandbox lacks.
        if any(c.attribute != "effective_status" for c in parse_filtering(params, "account")):
            raise errors.invalid_parameter("The sandbox supports only effective_status filters at level account")
        objects = [data.nodes[account.account_id]]
    else:
        candidates = data.level_objects(account.account_id, level)
        if isinstance(target, AdObject):
            candidates = [obj for obj in candidates if any(o is target for o in _related(data, obj, target.kind))]
        objects = sorted(_visible(data, candidates, conditions), key=lambda o: int(o.id))
    return InsightsQuery(
        account_id=account.account_id,
        level=level,
        object_ids=tuple(obj.id for obj in objects),
        buckets=tuple(_buckets(ranges, increment)),
        fields=tuple(fields),
        windows=windows,
        breakdowns=tuple(breakdowns),
        version=version,
    )


def _insights_page(
    state: SandboxState, request: GraphRequest, query: InsightsQuery, page: PageRequest
) -> Callable[[], dict[str, Any]]:
    data = state.data

    def build() -> dict[str, Any]:
        keys = data.insights_keys(query)
        return _page_body(
            request,
            page,
            len(keys),
            lambda start, end: data.insights_rows(query, keys[start:end]),
            query.version,
            summary=False,
        )

    return build


def _get_insights(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    page = _page_request(state.config, request.params)
    version = page.snapshot if page.snapshot is not None else state.data.restatement_version
    query = parse_insights(state, route, request.params, version)
    limit = state.faults.profile.max_sync_fields
    if limit is not None and len(query.fields) > limit:
        raise errors.reduce_data()
    return GraphResponse(200, compute=_insights_page(state, request, query, page))


def _post_insights(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    query = parse_insights(state, route, request.params, state.data.restatement_version)
    limit = state.faults.profile.max_async_days_ad_level
    if limit is not None and query.level == "ad":
        days = max(until for _, until in query.buckets) - min(since for since, _ in query.buckets) + 1
        if days > limit:
            raise errors.too_much_data(days, limit)
    state.report_run_counter += 1
    run_id = str(4_100_000_000_000_000 + (state.config.seed % 997) * 10**9 + state.report_run_counter)
    state.report_runs[run_id] = ReportRun(
        id=run_id,
        account_id=query.account_id,
        query=query,
        fate=state.faults.new_job(query.account_id),
        time_ref=state.now(),
    )
    return GraphResponse(200, {"report_run_id": run_id})


def _report_run_fields(run: ReportRun) -> dict[str, Any]:
    status, percent = run.step()
    query = run.query
    fields: dict[str, Any] = {
        "id": run.id,
        "account_id": run.account_id,
        "time_ref": run.time_ref,
        "time_completed": run.time_completed,
        "async_status": status,
        "async_percent_completion": percent,
        "date_start": date.fromordinal(min(since for since, _ in query.buckets)).isoformat(),
        "date_stop": date.fromordinal(max(until for _, until in query.buckets)).isoformat(),
        "is_running": status in ("Job Started", "Job Running"),
    }
    if status == "Job Failed":
        fields.update(error_code=1, error_subcode=99, error_message="An unknown error occurred while running the job")
    return fields


def _get_report_run(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    run: ReportRun = route.target
    fields = parse_fields(request.params)
    if fields:
        _check_fields(fields, "report_run")
    run.polls += 1
    if (throttled := state.faults.report_poll_throttle(run.account_id, run.polls)) is not None:
        raise throttled
    if run.completed and not run.time_completed:
        run.time_completed = state.now()
    view = _report_run_fields(run)
    # Failed runs carry their error by default (v25+), so pollers see why without asking for it.
    default = (*REPORT_RUN_FIELDS, "error_code", "error_message", "error_subcode")
    return GraphResponse(200, _pick(view, fields, default))


def _get_report_results(state: SandboxState, request: GraphRequest, route: Route) -> GraphResponse:
    run: ReportRun = route.target
    if not run.completed:
        raise errors.report_not_ready()
    page = _page_request(state.config, request.params)
    return GraphResponse(200, compute=_insights_page(state, request, run.query, page))
