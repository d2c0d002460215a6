"""GraphClient: our aiohttp client for one token and ad account on Meta's Marketing API (paging, batch, report runs)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import hashlib
import hmac
import json
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final, Protocol
from urllib.parse import urlencode

import aiohttp
import orjson
from aiohttp_retry import RetryClient
from aiohttp_retry.retry_options import RetryOptionsBase
from facebook_business.api import FacebookAdsApi
from yarl import URL

from adsvc.graph.breaker import BreakerState, CircuitBreaker
from adsvc.graph.errors import DEFAULT_THROTTLE_SECONDS, REPORT_NOT_READY, ErrorKind, GraphError, classify, redact
from adsvc.graph.pacing import PacingState, SharedPacing
from adsvc.graph.usage import Pacer, Usage, lower_headers, parse_usage

log = logging.getLogger("adsvc.graph")

DEFAULT_BASE_URL: Final = "https://graph.facebook.com"
BATCH_LIMIT: Final = 50
LEVELS: Final = ("account", "campaign", "adset", "ad")
ACCOUNT_FIELDS: Final = (
    "id",
    "account_id",
    "name",
    "account_status",
    "disable_reason",
    "currency",
    "timezone_name",
    "timezone_offset_hours_utc",
)
# Asked explicitly: the error fields of a failed run (v25+) are not among the defaults.
REPORT_RUN_FIELDS: Final = (
    "id",
    "async_status",
    "async_percent_completion",
    "error_code",
    "error_subcode",
    "error_message",
)
JOB_COMPLETED: Final = "Job Completed"
JOB_FAILED: Final = frozenset({"Job Failed", "Job Skipped"})
# Query values that carry credentials; stripped from `paging.next` so our own auth is the only one sent.
AUTH_QUERY_KEYS: Final = ("access_token", "appsecret_proof")
# Failures without an HTTP answer that are safe to repeat for idempotent calls.
RETRY_EXCEPTIONS: Final[frozenset[type[Exception]]] = frozenset(
    {aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError}
)

Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], float]


class ReportRunMemory(Protocol):
    """Where a caller keeps the report runs it started, so a retry of its work reuses them instead of asking again."""

    async def recall(self, key: str) -> str | None: ...
    async def remember(self, key: str, run_id: str) -> None: ...
    async def forget(self, key: str) -> None: ...


def report_key(params: Mapping[str, Any]) -> str:
    """A stable name for the report a set of insights parameters asks for (the same question, the same key)."""
    encoded = encode_params(params, post=True)
    canonical = json.dumps(sorted(encoded.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def act(account_id: str) -> str:
    """The `act_<id>` node name of an ad account, whether or not the prefix is already there."""
    return "act_" + account_id.removeprefix("act_")


def fields_param(fields: Iterable[str] | str, *, post: bool = False) -> str:
    """`fields` as Graph wants it: comma-joined on GET, a JSON array string on POST."""
    names = [fields] if isinstance(fields, str) else list(fields)
    if isinstance(fields, str):
        names = [name.strip() for name in fields.split(",") if name.strip()]
    return json.dumps(names, separators=(",", ":")) if post else ",".join(names)


def time_range(since: dt.date | str, until: dt.date | str) -> str:
    """A `time_range` JSON string; both ends are inclusive dates in the account's timezone."""
    return json.dumps({"since": str(since), "until": str(until)}, separators=(",", ":"))


def filtering(filters: Iterable[Mapping[str, Any]]) -> str:
    """A `filtering` JSON string from `{"field": .., "operator": .., "value": ..}` items."""
    return json.dumps([dict(item) for item in filters], separators=(",", ":"))


def _param_value(key: str, value: Any, *, post: bool) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | Decimal):
        return str(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if key == "fields" and isinstance(value, list | tuple | set | frozenset):
        return fields_param(list(value), post=post)
    return json.dumps(value, separators=(",", ":"), default=str)


def encode_params(params: Mapping[str, Any] | None, *, post: bool = False) -> dict[str, str]:
    """Graph parameters as strings: lists and dicts JSON-encoded, `fields` comma-joined on GET, None dropped."""
    if not params:
        return {}
    return {key: _param_value(key, value, post=post) for key, value in params.items() if value is not None}


@dataclasses.dataclass(frozen=True, slots=True)
class BatchRequest:
    """One entry of a batch call; `relative_url` has no version and no token (the batch carries both)."""

    method: str
    relative_url: str
    body: str | None = None
    name: str | None = None

    @classmethod
    def get(cls, path: str, params: Mapping[str, Any] | None = None, *, name: str | None = None) -> BatchRequest:
        query = urlencode(encode_params(params))
        return cls("GET", f"{path}?{query}" if query else path, name=name)

    @classmethod
    def post(cls, path: str, data: Mapping[str, Any] | None = None, *, name: str | None = None) -> BatchRequest:
        return cls("POST", path, body=urlencode(encode_params(data, post=True)) or None, name=name)

    def entry(self) -> dict[str, str]:
        entry = {"method": self.method, "relative_url": self.relative_url.lstrip("/")}
        if self.body is not None:
            entry["body"] = self.body
        if self.name is not None:
            entry["name"] = self.name
        return entry


@dataclasses.dataclass(frozen=True, slots=True)
class BatchResult:
    """The answer to one batch entry: its HTTP code and parsed body, or the classified error (also for `null`)."""

    request: BatchRequest
    status: int | None
    body: Any
    error: GraphError | None
    usage: Usage

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclasses.dataclass(slots=True)
class _Answer:
    status: int
    payload: Any
    error: GraphError | None


class _Backoff(RetryOptionsBase):
    """Exponential backoff with jitter; the response callback (which reads and classifies the body) decides."""

    def __init__(
        self,
        *,
        attempts: int,
        methods: set[str],
        exceptions: set[type[Exception]],
        start: float,
        maximum: float,
        callback: Callable[[aiohttp.ClientResponse], Awaitable[bool]],
    ) -> None:
        # statuses empty and retry_all_server_errors off: a 5xx is retried only when its body says TRANSIENT, and
        # never unread (aiohttp-retry would otherwise move on without releasing the connection).
        super().__init__(
            attempts=attempts,
            statuses=set(),
            exceptions=exceptions,
            methods=methods,
            retry_all_server_errors=False,
            evaluate_response_callback=callback,
        )
        self._start = start
        self._maximum = maximum

    def get_timeout(self, attempt: int, response: aiohttp.ClientResponse | None = None) -> float:
        ceiling = min(self._maximum, self._start * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


class _ReportProblem(Exception):
    """A report run that cannot give results as asked: failed, stuck, timed out or too big; splitting may help."""

    def __init__(self, reason: str, error: GraphError) -> None:
        super().__init__(reason)
        self.reason = reason
        self.error = error


@dataclasses.dataclass(frozen=True, slots=True)
class _Job:
    params: dict[str, Any]
    scope_level: str = "account"
    ids: tuple[str, ...] = ()


class GraphClient:
    """Graph API calls for one (token, ad account), on an aiohttp session owned by the app (never closed here).

    Before every call it asks the Pacer how long to wait given the last usage headers (slow down before a block) and
    asks the breaker whether the upstream may be called; after it, it records the outcome in the breaker. Only
    TRANSIENT answers are retried here; THROTTLE is raised at once so a worker can reschedule for the announced time.
    """

    def __init__(
        self,
        *,
        session: aiohttp.ClientSession,
        access_token: str,
        app_secret: str | None = None,
        account_id: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        version: str = FacebookAdsApi.API_VERSION,
        breaker: CircuitBreaker | None = None,
        pacer: Pacer | None = None,
        max_retries: int = 3,
        retry_start_seconds: float = 0.5,
        retry_max_seconds: float = 30.0,
        request_timeout: float = 60.0,
        batch_null_retries: int = 3,
        page_size: int = 500,
        min_insights_limit: int = 25,
        poll_initial: float = 5.0,
        poll_max: float = 30.0,
        stuck_job_timeout: float = 300.0,
        job_timeout: float = 3600.0,
        max_report_runs: int = 64,
        max_pace_wait: float | None = None,
        default_throttle_seconds: float = DEFAULT_THROTTLE_SECONDS,
        shared_pacing: SharedPacing | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        wall: Clock = time.time,
    ) -> None:
        self.account_id = account_id.removeprefix("act_") if account_id else None
        self.version = version
        self.breaker = breaker
        self.pacer = pacer
        self._base = URL(base_url.rstrip("/"))
        self._retry = RetryClient(client_session=session, logger=log.getChild("retry"), raise_for_status=False)
        self._max_retries = max_retries
        self._retry_start = retry_start_seconds
        self._retry_max = retry_max_seconds
        self._timeout = aiohttp.ClientTimeout(total=request_timeout)
        self._batch_null_retries = batch_null_retries
        self._page_size = page_size
        self._min_insights_limit = min_insights_limit
        self._poll_initial = poll_initial
        self._poll_max = poll_max
        self._stuck_job_timeout = stuck_job_timeout
        self._job_timeout = job_timeout
        self._max_report_runs = max_report_runs
        self._max_pace_wait = max_pace_wait
        self._default_throttle = default_throttle_seconds
        self._sleep = sleep
        self._clock = clock
        self._wall = wall
        self.shared_pacing = shared_pacing
        # The one place auth is injected: a header (so the token never sits in a URL) plus the proof as a parameter.
        self._headers = {"Authorization": f"Bearer {access_token}"}
        self._auth_query: dict[str, str] = {}
        proof = None
        if app_secret:
            proof = hmac.new(app_secret.encode(), access_token.encode(), hashlib.sha256).hexdigest()
            self._auth_query["appsecret_proof"] = proof
        self._secrets = (access_token, app_secret, proof)
        self.calls = 0
        self.retries = 0
        self.report_runs = 0
        self.resumed_report_runs = 0
        self.usage = Usage()
        self.insights_usage = Usage()
        # when the last throttle Meta answered with (or another process saw) lifts, on our clock
        self.throttled_until = 0.0

    def __repr__(self) -> str:
        return f"GraphClient(account_id={self.account_id!r}, base_url={str(self._base)!r}, version={self.version!r})"

    # ---- plumbing -------------------------------------------------------------------------------------------------

    def url(self, path: str) -> URL:
        """The absolute URL of `path` (relative to the versioned root) or of an absolute `paging.next` link.

        An absolute link loses its credentials (our header and proof are added per call) and is pinned to our base
        origin, so a token is never sent to a host we were not configured for.
        """
        if path.startswith(("http://", "https://")):
            link = URL(path).without_query_params(*AUTH_QUERY_KEYS)
            if link.origin() != self._base.origin():
                link = link.with_scheme(self._base.scheme).with_host(self._base.host or "")
                link = link.with_port(self._base.explicit_port)
            return link
        return URL(f"{self._base}/{self.version}/{path.lstrip('/')}")

    def _observe(self, usage: Usage) -> None:
        if usage.present:
            self.usage = usage
            if usage.insights_pct is not None:
                self.insights_usage = usage

    def _throttled(self, seconds: float) -> None:
        self.throttled_until = max(self.throttled_until, self._clock() + max(0.0, seconds))

    # ---- the pacing state every process of the account shares ----------------------------------------------------

    def pacing_state(self) -> PacingState:
        """What this client knows about the account's budgets, in wall-clock time."""
        offset = self._wall() - self._clock()

        def on_wall(usage: Usage) -> Usage:
            return dataclasses.replace(usage, observed_at=usage.observed_at + offset) if usage.present else usage

        until = self.throttled_until + offset if self.throttled_until > self._clock() else 0.0
        return PacingState(
            usage=on_wall(self.usage), insights_usage=on_wall(self.insights_usage), throttled_until=until
        )

    def adopt(self, state: PacingState) -> None:
        """Take what another agent or process saw, where it is newer than what this client saw itself."""
        offset = self._clock() - self._wall()
        for name in ("usage", "insights_usage"):
            theirs: Usage = getattr(state, name)
            if theirs.present and theirs.observed_at + offset > getattr(self, name).observed_at:
                setattr(self, name, dataclasses.replace(theirs, observed_at=theirs.observed_at + offset))
        remaining = state.throttled_until - self._wall()
        if remaining > 0:
            self._throttled(remaining)
            if self.breaker is not None:
                self.breaker.record_throttle(remaining)

    async def load_shared_pacing(self) -> None:
        """Adopt the account's shared pacing state (when the agent is created and when a sync starts)."""
        if self.shared_pacing is not None and (state := await self.shared_pacing.load()) is not None:
            self.adopt(state)

    async def _share_pacing(self) -> None:
        if self.shared_pacing is not None:
            state = self.pacing_state()
            if self.shared_pacing.wants(state):
                await self.shared_pacing.publish(state)

    def pace_delay(self, *, insights: bool = True) -> float:
        """Seconds the next call would wait, given the usage seen and any throttle still on."""
        if self.pacer is None:
            return 0.0
        now = self._clock()
        delay = self.pacer.delay(self.usage, now=now)
        if insights:
            delay = max(delay, self.pacer.delay(self.insights_usage, now=now, insights=True))
        return max(delay, self.throttled_until - now)

    async def _pace(self, *, insights: bool) -> None:
        delay = self.pace_delay(insights=insights)
        if delay <= 0:
            return
        pct = max(self.usage.max_pct, self.insights_usage.insights_pct or 0.0)
        if self._max_pace_wait is not None and delay > self._max_pace_wait:
            raise GraphError(
                ErrorKind.THROTTLE, f"paced: usage at {pct:.0f}%, next call in {delay:.1f}s", retry_after=delay
            )
        level = logging.INFO if delay >= 10 else logging.DEBUG
        log.log(level, "graph pacing: usage at %.0f%%, waiting %.1fs before the next call", pct, delay)
        await self._sleep(delay)

    async def _read(self, response: aiohttp.ClientResponse, cost: int) -> _Answer:
        """Read and classify one HTTP answer; every answer counts `cost` calls and updates the usage seen."""
        raw = await response.read()
        self.calls += cost
        self._observe(parse_usage(response.headers, account_id=self.account_id, observed_at=self._clock()))
        status = response.status
        log.debug("graph %s %s -> %s", response.method, response.url.path, status)
        if status >= 400:
            text = raw.decode("utf-8", errors="replace")
            return _Answer(status, None, self._classify(status, text, response.headers))
        try:
            payload = orjson.loads(raw)
        except orjson.JSONDecodeError:
            # A 2xx that is not JSON came from something between us and Meta; try again later.
            return _Answer(status, None, GraphError(ErrorKind.TRANSIENT, "non-JSON answer", http_status=status))
        if isinstance(payload, dict) and "error" in payload:
            return _Answer(status, None, self._classify(status, raw.decode(), response.headers))
        return _Answer(status, payload, None)

    def _classify(self, status: int, body: str, headers: Mapping[str, str]) -> GraphError:
        error = classify(
            status,
            body,
            headers,
            account_id=self.account_id,
            secrets=self._secrets,
            default_throttle_seconds=self._default_throttle,
        )
        if error.kind is ErrorKind.THROTTLE and error.retry_after is not None and self.pacer is not None:
            if parse_usage(headers, account_id=self.account_id).eta_seconds <= 0:
                # Meta did not say when access comes back: the wait is our estimate, scaled like every pacing wait
                error.retry_after = self.pacer.estimated_wait(error.retry_after)
        return error

    async def _send(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None,
        data: Mapping[str, str] | None,
        retry_safe: bool,
        cost: int,
    ) -> _Answer:
        accepted: list[tuple[aiohttp.ClientResponse, _Answer]] = []

        async def evaluate(response: aiohttp.ClientResponse) -> bool:
            # Called by aiohttp-retry for every answer but the last attempt's; True keeps the answer.
            answer = await self._read(response, cost)
            if answer.error is not None and answer.error.kind is ErrorKind.TRANSIENT:
                self.retries += 1
                log.warning("graph %s %s: %s; retrying", method, url.path, answer.error)
                return False
            accepted.append((response, answer))
            return True

        options = _Backoff(
            attempts=self._max_retries + 1 if retry_safe else 1,
            methods={"GET", "POST"} if retry_safe else set(),
            exceptions=set(RETRY_EXCEPTIONS) if retry_safe else set(),
            start=self._retry_start,
            maximum=self._retry_max,
            callback=evaluate,
        )
        query = {**(params or {}), **self._auth_query}
        try:
            async with self._retry.request(
                method,
                url,
                params=query or None,
                data=data,
                headers=self._headers,
                retry_options=options,
                raise_for_status=False,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                if accepted and accepted[-1][0] is response:
                    return accepted[-1][1]
                return await self._read(response, cost)
        except (aiohttp.ClientError, TimeoutError) as exc:
            # `from None`: the chained aiohttp exception may quote the URL with its appsecret_proof.
            raise GraphError.network(exc, secrets=self._secrets) from None

    async def _call(
        self,
        method: str,
        url: URL,
        *,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, str] | None = None,
        retry_safe: bool,
        insights: bool = False,
        cost: int = 1,
    ) -> Any:
        breaker = self.breaker
        if breaker is not None and breaker.state in (BreakerState.OPEN, BreakerState.THROTTLED):
            # Refuse at once rather than pace first: a caller must not sit out a block the breaker already knows.
            breaker.before_call()
        await self._pace(insights=insights)
        probe = False
        if breaker is not None:
            # No await between these two lines, so whoever passes a half-open breaker here is its one probe.
            probe = breaker.state is BreakerState.HALF_OPEN
            breaker.before_call()
        try:
            answer = await self._send(method, url, params=params, data=data, retry_safe=retry_safe, cost=cost)
        except GraphError as error:
            if breaker is not None:
                breaker.record_failure(error.kind)
            log.warning("graph %s %s failed: %s", method, url.path, error)
            raise
        except BaseException:
            if breaker is not None and probe:
                breaker.release_probe()
            raise
        failure = answer.error
        if failure is not None and failure.kind is ErrorKind.THROTTLE:
            # the usage the throttle came with can ask for longer than its code's estimate (100%, no ETA): say so,
            # so whoever reschedules comes back once, when the pacing will let the call go
            failure.retry_after = max(failure.retry_after or 0.0, self.pace_delay(insights=insights))
            self._throttled(failure.retry_after)
        await self._share_pacing()
        if failure is None:
            if breaker is not None:
                breaker.record_success()
            return answer.payload
        if breaker is not None:
            if failure.kind is ErrorKind.THROTTLE:
                breaker.record_throttle(failure.retry_after or 0.0)
            else:
                breaker.record_failure(failure.kind)
        log.warning("graph %s %s failed: %s", method, url.path, failure)
        raise failure

    # ---- plain calls ----------------------------------------------------------------------------------------------

    async def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """GET a node or edge page; retried on transient failures (a read is idempotent)."""
        payload = await self._call(
            "GET", self.url(path), params=encode_params(params), retry_safe=True, insights=_is_insights(path)
        )
        return _as_dict(payload, path)

    async def post(self, path: str, data: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST form fields (an update or a creation); never retried, since a repeated write may apply twice.

        Even `status=PAUSED` is not safe to repeat blindly: budget changes are limited to 4 per ad set per hour, and
        a retried creation makes a duplicate object.
        """
        payload = await self._call("POST", self.url(path), data=encode_params(data, post=True), retry_safe=False)
        return _as_dict(payload, path)

    async def validate(self) -> dict[str, Any]:
        """One real round trip reading the ad account: proves the token works and can see this account."""
        if self.account_id is None:
            raise ValueError("validate() needs a client bound to an ad account")
        return await self.get(act(self.account_id), {"fields": ACCOUNT_FIELDS})

    # ---- paging ---------------------------------------------------------------------------------------------------

    async def iterate_edge(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
    ) -> AsyncIterator[dict[str, Any]]:
        """Every item of an edge, page by page, following `paging.next` until a page has none."""
        query: dict[str, str] | None = encode_params({**(params or {}), "limit": page_size or self._page_size})
        url = self.url(path)
        insights = _is_insights(path)
        seen: set[str] = set()
        while True:
            page = _as_dict(await self._call("GET", url, params=query, retry_safe=True, insights=insights), path)
            data = page.get("data")
            if not isinstance(data, list):
                raise GraphError(ErrorKind.PERMANENT, f"edge {path} answered without a data list", http_status=200)
            for item in data:
                yield item
            # Only an absent `next` ends the edge: a short page does not.
            link = (page.get("paging") or {}).get("next")
            if not link:
                return
            if link in seen:
                raise GraphError(ErrorKind.PERMANENT, f"edge {path} returned the same next page twice", http_status=200)
            seen.add(link)
            url, query = self.url(link), None

    async def fetch_all(
        self, path: str, params: Mapping[str, Any] | None = None, *, page_size: int | None = None
    ) -> list[dict[str, Any]]:
        """Every item of an edge as a list."""
        return [item async for item in self.iterate_edge(path, params, page_size=page_size)]

    # ---- batch ----------------------------------------------------------------------------------------------------

    async def batch(self, requests: Sequence[BatchRequest]) -> list[BatchResult]:
        """Run requests through `POST /<version>/` in chunks of 50; answers come back in request order.

        A `null` answer means the entry did not run in time; read entries are retried (bounded), writes are returned
        as a TRANSIENT error because a timed-out write may still have been applied.
        """
        results: list[BatchResult | None] = [None] * len(requests)
        for start in range(0, len(requests), BATCH_LIMIT):
            pending = list(range(start, min(start + BATCH_LIMIT, len(requests))))
            for round_ in range(self._batch_null_retries + 1):
                answers = await self._batch_chunk([requests[i] for i in pending])
                retry: list[int] = []
                for index, answer in zip(pending, answers, strict=True):
                    request = requests[index]
                    transient = answer is None or (
                        answer.error is not None and answer.error.kind is ErrorKind.TRANSIENT
                    )
                    if transient and request.method == "GET" and round_ < self._batch_null_retries:
                        retry.append(index)
                        continue
                    results[index] = answer or _not_run(request)
                if not retry:
                    break
                self.retries += len(retry)
                log.warning("graph batch: %d of %d entries did not run; retrying them", len(retry), len(pending))
                await self._sleep(min(self._retry_max, self._retry_start * 2**round_))
                pending = retry
        return [result or _not_run(requests[i]) for i, result in enumerate(results)]

    async def _batch_chunk(self, requests: Sequence[BatchRequest]) -> list[BatchResult | None]:
        data = {"batch": json.dumps([r.entry() for r in requests], separators=(",", ":")), "include_headers": "true"}
        # Meta counts each entry as a call. A batch of reads is safe to repeat; one with a write is not.
        retry_safe = all(r.method == "GET" for r in requests)
        payload = await self._call(
            "POST", self.url(""), data=data, retry_safe=retry_safe, insights=False, cost=len(requests)
        )
        if not isinstance(payload, list) or len(payload) != len(requests):
            raise GraphError(ErrorKind.TRANSIENT, "batch answer does not match the request list", http_status=200)
        # A null entry did not run, so it is not a call; it was counted above with the rest of the chunk.
        self.calls -= sum(1 for item in payload if item is None)
        results: list[BatchResult | None] = []
        for request, item in zip(requests, payload, strict=True):
            results.append(None if item is None else self._batch_entry(request, item))
        return results

    def _batch_entry(self, request: BatchRequest, item: Any) -> BatchResult:
        if not isinstance(item, dict):
            odd = GraphError(ErrorKind.TRANSIENT, "batch entry is not an object")
            return BatchResult(request, None, None, odd, Usage())
        status = int(item.get("code") or 0)
        headers = lower_headers(item.get("headers") or [])
        usage = parse_usage(headers, account_id=self.account_id, observed_at=self._clock())
        self._observe(usage)
        raw = item.get("body")
        body: Any = raw
        if isinstance(raw, str):
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError:
                body = raw
        error: GraphError | None = None
        if status >= 400 or (isinstance(body, dict) and "error" in body):
            text = raw if isinstance(raw, str) else json.dumps(raw)
            error = self._classify(status, text, headers)
            if error.kind is ErrorKind.THROTTLE:
                self._throttled(error.retry_after or 0.0)
                if self.breaker is not None:
                    self.breaker.record_throttle(error.retry_after or 0.0)
            body = None
        return BatchResult(request, status, body, error, usage)

    # ---- insights -------------------------------------------------------------------------------------------------

    async def insights(self, object_id: str, params: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Synchronous insights of an account, campaign, ad set or ad, every page.

        On "Please reduce the amount of data" the same page is asked again with a halved `limit` (the cursor is
        kept, so nothing is read twice); at the smallest limit the field list is halved and the halves merged.
        """
        return await self._sync_insights(object_id, dict(params))

    async def _sync_insights(self, object_id: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        limit = int(params.get("limit") or self._page_size)
        url = self.url(f"{object_id}/insights")
        query: dict[str, str] | None = encode_params({**params, "limit": limit})
        rows: list[dict[str, Any]] = []
        while True:
            try:
                page = _as_dict(await self._call("GET", url, params=query, retry_safe=True, insights=True), url.path)
            except GraphError as error:
                if error.kind not in (ErrorKind.REDUCE_DATA, ErrorKind.TOO_MUCH_DATA):
                    raise
                if limit > self._min_insights_limit:
                    limit = max(self._min_insights_limit, limit // 2)
                    log.info("graph insights %s: %s; asking again with limit=%d", object_id, error.kind, limit)
                    if query is not None:
                        query["limit"] = str(limit)
                    else:
                        url = url.update_query(limit=str(limit))
                    continue
                halves = _split_fields(params)
                if halves is None:
                    raise
                log.info("graph insights %s: %s at limit=%d; halving the field list", object_id, error.kind, limit)
                return await self._insights_by_field_halves(object_id, params, halves)
            data = page.get("data")
            if not isinstance(data, list):
                raise GraphError(ErrorKind.PERMANENT, "insights answered without a data list", http_status=200)
            rows.extend(data)
            link = (page.get("paging") or {}).get("next")
            if not link:
                return rows
            url, query = self.url(link), None

    async def _insights_by_field_halves(
        self, object_id: str, params: dict[str, Any], halves: tuple[list[str], list[str], list[str]]
    ) -> list[dict[str, Any]]:
        keys, left, right = halves
        # Each half carries the row identity (level ids) so the halves can be joined back row by row.
        first = await self._sync_insights(object_id, {**params, "fields": keys + left})
        second = await self._sync_insights(object_id, {**params, "fields": keys + right})
        key_fields = ["date_start", "date_stop", *keys, *_as_list(params.get("breakdowns"))]
        asked = set(_as_list(params.get("fields")))
        merged: dict[tuple[Any, ...], dict[str, Any]] = {}
        for row in [*first, *second]:
            merged.setdefault(tuple(json.dumps(row.get(k)) for k in key_fields), {}).update(row)
        extra = [k for k in keys if k not in asked]
        return [{k: v for k, v in row.items() if k not in extra} for row in merged.values()]

    async def async_insights(
        self,
        account_id: str | None,
        params: Mapping[str, Any],
        *,
        split_on_failure: bool = True,
        page_size: int | None = None,
        runs: ReportRunMemory | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """Insights through async report runs, yielding rows job by job (each job's rows only once it completed).

        A job that fails, sits at 0% past `stuck_job_timeout`, outlives `job_timeout` or is refused as too much data
        is split: first its date range is halved (daily rows only), then it is narrowed to child objects (account,
        campaign, ad set, ad; never below the requested level) by listing the children that have data and
        filtering on their ids, bisecting the list. Rows of a job are yielded only after all its pages are read, so
        a split never yields a row twice.

        With `runs`, every report run started is remembered under its parameters: run again (a retry after a
        throttle), the same question reuses the run Meta already has (polled, then paged) instead of a new POST.
        """
        object_id = act(account_id or self.account_id or "")
        if object_id == "act_":
            raise ValueError("async_insights needs an ad account id")
        pending: deque[_Job] = deque([_Job(dict(params))])
        started = 0
        while pending:
            job = pending.popleft()
            started += 1
            if started > self._max_report_runs:
                raise GraphError(ErrorKind.PERMANENT, f"gave up after {self._max_report_runs} report runs")
            try:
                rows = await self._report(object_id, job.params, page_size, runs)
            except _ReportProblem as problem:
                if not split_on_failure:
                    raise problem.error from None
                parts = await self._split(object_id, job)
                if parts is None:
                    raise problem.error from None
                log.warning("graph report run %s (%s); split into %d jobs", problem.reason, problem.error, len(parts))
                pending.extendleft(reversed(parts))
                continue
            for row in rows:
                yield row

    async def _report(
        self, object_id: str, params: Mapping[str, Any], page_size: int | None, runs: ReportRunMemory | None = None
    ) -> list[dict[str, Any]]:
        key = report_key(params) if runs is not None else ""
        try:
            run_id = await self._resume_run(key, runs)
            if run_id is None:
                run_id = await self._start_run(object_id, params)
                if runs is not None:
                    await runs.remember(key, run_id)
                await self._wait_for_run(run_id)
            return await self._results(run_id, page_size)
        except _ReportProblem:
            if runs is not None:
                await runs.forget(key)  # a failed or stuck run is never reused; the split asks anew
            raise

    async def _resume_run(self, key: str, runs: ReportRunMemory | None) -> str | None:
        """The remembered run for `key`, once it completed; None when there is none or Meta no longer has it."""
        run_id = await runs.recall(key) if runs is not None else None
        if run_id is None or runs is None:
            return None
        try:
            await self._wait_for_run(run_id)
        except GraphError as error:
            if error.kind is not ErrorKind.PERMANENT:
                raise
            # expired or unknown (100/33): results are gone, ask again
            log.info("graph report run %s cannot be reused (%s); starting a new one", run_id, error)
            await runs.forget(key)
            return None
        self.resumed_report_runs += 1
        log.info("graph report run %s resumed", run_id)
        return run_id

    async def _start_run(self, object_id: str, params: Mapping[str, Any]) -> str:
        if self.pacer is not None and not self.pacer.may_start_async_job(self.insights_usage):
            # _call's pacing holds the POST back for as long as the insights curve asks at this percentage.
            log.info("graph insights throttle at %.0f%%: new report run held back", self.insights_usage.insights_pct)
        try:
            created = await self._call(
                "POST",
                self.url(f"{object_id}/insights"),
                data=encode_params(params, post=True),
                # Creating a report run changes nothing on the account; a duplicate only costs an idle job.
                retry_safe=True,
                insights=True,
            )
        except GraphError as error:
            if error.kind in (ErrorKind.TOO_MUCH_DATA, ErrorKind.REDUCE_DATA):
                raise _ReportProblem("too much data", error) from None
            raise
        run_id = str(_as_dict(created, object_id).get("report_run_id") or "")
        if not run_id:
            raise GraphError(ErrorKind.TRANSIENT, "report run creation answered without report_run_id")
        self.report_runs += 1
        return run_id

    async def _results(self, run_id: str, page_size: int | None) -> list[dict[str, Any]]:
        delay = self._poll_initial
        fetching_since = self._clock()
        while True:
            try:
                return await self.fetch_all(f"{run_id}/insights", page_size=page_size)
            except GraphError as error:
                if (error.code, error.subcode) == REPORT_NOT_READY:
                    if self._clock() - fetching_since >= self._job_timeout:
                        raise _ReportProblem("results never ready", error) from None
                    # Results asked before Meta considers the job done, whatever its status said: poll on.
                    await self._sleep(delay)
                    delay = min(delay * 2, self._poll_max)
                    await self._wait_for_run(run_id)
                    continue
                if error.kind in (ErrorKind.TOO_MUCH_DATA, ErrorKind.REDUCE_DATA):
                    raise _ReportProblem("too much data", error) from None
                raise

    async def _wait_for_run(self, run_id: str) -> dict[str, Any]:
        started = self._clock()
        delay = self._poll_initial
        while True:
            status = await self.get(f"{run_id}/", {"fields": REPORT_RUN_FIELDS})
            state = str(status.get("async_status"))
            percent = _percent(status.get("async_percent_completion"))
            # Only Job Completed is done: Meta reports Job Running at 100% for a while before that.
            if state == JOB_COMPLETED:
                return status
            if state in JOB_FAILED:
                raise _ReportProblem("failed", self._run_error(run_id, state, status))
            elapsed = self._clock() - started
            if percent <= 0 and elapsed >= self._stuck_job_timeout:
                error = GraphError(ErrorKind.TRANSIENT, f"report run {run_id} stuck at 0% for {elapsed:.0f}s")
                raise _ReportProblem("stuck", error)
            if elapsed >= self._job_timeout:
                error = GraphError(ErrorKind.TRANSIENT, f"report run {run_id} not done after {elapsed:.0f}s")
                raise _ReportProblem("timed out", error)
            await self._sleep(delay)
            delay = min(delay * 2, self._poll_max)

    def _run_error(self, run_id: str, state: str, status: Mapping[str, Any]) -> GraphError:
        # v25+ failed runs carry error_code / error_subcode / error_message: classify them like any Graph error.
        error = {
            "message": f"report run {run_id}: {state}: {status.get('error_message') or 'no reason given'}",
            "code": status.get("error_code"),
            "error_subcode": status.get("error_subcode"),
        }
        body = json.dumps({"error": {k: v for k, v in error.items() if v is not None}})
        found = self._classify(400, body, {})
        if found.kind is ErrorKind.PERMANENT and found.code in (None, 1):
            # A job that died of an unknown error is worth running again later; only a named cause is permanent.
            found.kind = ErrorKind.TRANSIENT
        return found

    async def _split(self, object_id: str, job: _Job) -> list[_Job] | None:
        """Smaller jobs covering exactly the rows of `job`, or None when it cannot be split further."""
        by_date = _split_dates(job.params)
        if by_date is not None:
            return [dataclasses.replace(job, params=p) for p in by_date]
        if len(job.ids) > 1:
            half = len(job.ids) // 2
            return [
                self._scoped(job, job.scope_level, job.ids[:half]),
                self._scoped(job, job.scope_level, job.ids[half:]),
            ]
        requested = str(job.params.get("level") or "account")
        if requested not in LEVELS or job.scope_level not in LEVELS:
            return None
        child_index = LEVELS.index(job.scope_level) + 1
        # Splitting below the requested level would change the rows (reach and frequency do not add up).
        if child_index > LEVELS.index(requested):
            return None
        child = LEVELS[child_index]
        ids = await self._child_ids(object_id, job.params, child)
        if not ids:
            return []
        half = max(1, len(ids) // 2)
        parts = [ids[:half], ids[half:]] if len(ids) > 1 else [ids]
        return [self._scoped(job, child, tuple(part)) for part in parts]

    def _scoped(self, job: _Job, level: str, ids: tuple[str, ...]) -> _Job:
        filters = [f for f in _filters(job.params) if f.get("field") != f"{job.scope_level}.id"]
        filters.append({"field": f"{level}.id", "operator": "IN", "value": list(ids)})
        return _Job({**job.params, "filtering": filters}, level, ids)

    async def _child_ids(self, object_id: str, params: Mapping[str, Any], child: str) -> list[str]:
        # Listing children through insights (same dates and filters) finds exactly those with data, deleted and
        # archived ones included, which an edge read would leave out.
        listing = {k: v for k, v in params.items() if k in ("time_range", "time_ranges", "date_preset", "filtering")}
        rows = await self._sync_insights(object_id, {**listing, "level": child, "fields": [f"{child}_id"]})
        return sorted({str(row[f"{child}_id"]) for row in rows if row.get(f"{child}_id")})


# ---- pure helpers -------------------------------------------------------------------------------------------------


def _is_insights(path: str) -> bool:
    return URL(path).path.rstrip("/").endswith("/insights") or path.split("?")[0].rstrip("/") == "insights"


def _as_dict(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise GraphError(ErrorKind.PERMANENT, f"{redact(what)} answered {type(payload).__name__}, not an object")
    return payload


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            parsed = json.loads(stripped)
            return [str(v) for v in parsed]
        return [v.strip() for v in stripped.split(",") if v.strip()]
    return [str(v) for v in value]


def _percent(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0


def _not_run(request: BatchRequest) -> BatchResult:
    error = GraphError(ErrorKind.TRANSIENT, f"batch entry {request.method} {redact(request.relative_url)} did not run")
    return BatchResult(request, None, None, error, Usage())


def _filters(params: Mapping[str, Any]) -> list[dict[str, Any]]:
    raw = params.get("filtering")
    if raw is None:
        return []
    items = json.loads(raw) if isinstance(raw, str) else raw
    return [dict(item) for item in items]


def _split_dates(params: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """Two halves of a daily (`time_increment=1`) time_range, or None when the rows would change or it is one day."""
    if str(params.get("time_increment", "")) != "1":
        return None
    raw = params.get("time_range")
    if raw is None:
        return None
    bounds = json.loads(raw) if isinstance(raw, str) else raw
    try:
        since = dt.date.fromisoformat(str(bounds["since"]))
        until = dt.date.fromisoformat(str(bounds["until"]))
    except (KeyError, TypeError, ValueError):
        return None
    if until <= since:
        return None
    middle = since + (until - since) // 2
    return [
        {**params, "time_range": {"since": since.isoformat(), "until": middle.isoformat()}},
        {**params, "time_range": {"since": (middle + dt.timedelta(days=1)).isoformat(), "until": until.isoformat()}},
    ]


def _split_fields(params: Mapping[str, Any]) -> tuple[list[str], list[str], list[str]] | None:
    """(identity fields, first half, second half) of the metric fields, or None when one metric is left."""
    fields = _as_list(params.get("fields"))
    level = str(params.get("level") or "")
    # The level's own id identifies a row (with dates and breakdowns); parents' ids add nothing but width.
    keys = [f"{level}_id"] if level in LEVELS else []
    metrics = [f for f in fields if f not in keys and f not in ("date_start", "date_stop")]
    if len(metrics) < 2:
        return None
    half = len(metrics) // 2
    return keys, metrics[:half], metrics[half:]
