"""The app under test for the browser: adsvc and a sandbox Marketing API served over real HTTP from a thread of
their own (their own event loop), so blocking WebDriver calls from the test never wait on the loop that answers
them. Helpers create users, sign in and call the JSON API (synchronously), and run the worker."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import threading
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from factories import TEST_PASSWORD, TEST_SECRET, TEST_TOKEN_KEY, Stack, bearer, create_user, make_settings

from adsvc.app import create_app
from adsvc.auth.queries import User
from adsvc.embedded import free_port
from adsvc.keys import PG
from adsvc.sandbox import SANDBOX_ACCESS_TOKEN, SANDBOX_STATE, SandboxConfig, SandboxState, create_sandbox_app
from adsvc.settings import Settings

T = TypeVar("T")

START_TIMEOUT_SECONDS = 30
CALL_TIMEOUT_SECONDS = 60
# small and deterministic, like the suite's TINY_SANDBOX: two accounts, 40 days
# seed 90 with six campaigns an account: the suggestions engine finds something to propose (as in tests/automation)
BROWSER_SANDBOX = SandboxConfig(
    seed=90, accounts=2, campaigns_per_account=6, adsets_per_campaign=2, ads_per_adset=2, days=40
)
# the worker's pacing and polling made fast, as in tests/accounts
FAST_WORKER_ENV = {
    "GRAPH_POLL_INITIAL_SECONDS": "0.01",
    "GRAPH_POLL_MAX_SECONDS": "0.05",
    "GRAPH_PACING_TIME_SCALE": "0.001",
    "SYNC_RETRY_BASE_SECONDS": "0.05",
    "SYNC_LOCK_SECONDS": "5",
}


@dataclass(frozen=True)
class Answer:
    """A JSON API response: its status, headers and decoded body (None when empty or not JSON)."""

    status: int
    headers: dict[str, str]
    body: Any


@dataclass(frozen=True)
class SignedIn:
    """A user with a bearer token from POST /api/v1/auth/login."""

    user: User
    token: str
    password: str

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


class LiveServer:
    """adsvc on http://127.0.0.1:<port>, with the sandbox (BROWSER_SANDBOX) as its Meta, on this session's
    PostgreSQL and Redis. Start once per session; everything here is synchronous and thread-safe."""

    def __init__(self, stack: Stack, sandbox_config: SandboxConfig = BROWSER_SANDBOX) -> None:
        self.stack = stack
        self.sandbox_config = sandbox_config
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.graph_url = ""
        self.settings: Settings | None = None
        self.app: web.Application | None = None
        self.sandbox_app: web.Application | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="adsvc-live-server", daemon=True)

    # -- lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> LiveServer:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_SECONDS):
            raise AssertionError(f"the live server did not start within {START_TIMEOUT_SECONDS} s")
        if self._failure is not None:
            raise AssertionError(f"the live server failed to start: {self._failure!r}") from self._failure
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(START_TIMEOUT_SECONDS)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # reported to start() (or lost at teardown, when nobody waits any more)
            self._failure = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        self.sandbox_app = create_sandbox_app(self.sandbox_config)
        sandbox_runner = web.AppRunner(self.sandbox_app, access_log=None)
        await sandbox_runner.setup()
        sandbox_port = free_port()
        await web.TCPSite(sandbox_runner, "127.0.0.1", sandbox_port).start()
        self.graph_url = f"http://127.0.0.1:{sandbox_port}"
        self.settings = make_settings(self.stack, facebook_graph_url=self.graph_url)
        self.app = create_app(self.settings)
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            await web.TCPSite(runner, "127.0.0.1", self.port).start()
            self._ready.set()
            await self._stop.wait()
        finally:
            await runner.cleanup()
            await sandbox_runner.cleanup()

    def call(self, make: Callable[[], Awaitable[T]], timeout: float = CALL_TIMEOUT_SECONDS) -> T:
        """Run a coroutine on the server's own loop (where its pool and Redis client live) and wait for it."""
        assert self._loop is not None

        async def run() -> T:
            return await make()

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(timeout)

    # -- what tests use ------------------------------------------------------------------------------------------

    def __str__(self) -> str:
        return self.base_url

    def url(self, path: str = "/") -> str:
        return self.base_url + path

    @property
    def sandbox(self) -> SandboxState:
        """The sandbox's state (data, ground truth, faults): read it to see what a page changed at "Meta"."""
        assert self.sandbox_app is not None
        return self.sandbox_app[SANDBOX_STATE]

    def api(
        self, method: str, path: str, *, token: str | None = None, json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Answer:  # fmt: skip
        """One JSON API request over HTTP, as any client makes it."""
        data = None if json_body is None else json.dumps(json_body).encode()
        sent = dict(headers or {})
        if data is not None:
            sent["Content-Type"] = "application/json"
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=CALL_TIMEOUT_SECONDS)
        try:
            connection.request(method, path, body=data, headers=sent)
            response = connection.getresponse()
            status, raw, got = response.status, response.read(), dict(response.getheaders())
        finally:
            connection.close()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        return Answer(status=status, headers=got, body=body)

    def create_user(self, *, is_admin: bool = False, email: str | None = None, password: str = TEST_PASSWORD) -> User:
        """A new user in the database (argon2-hashed like any other), not signed in anywhere."""
        assert self.app is not None and self.settings is not None
        app, settings = self.app, self.settings

        async def insert() -> User:
            async with app[PG].acquire() as conn:
                return await create_user(conn, settings, email=email, password=password, is_admin=is_admin)

        return self.call(insert)

    def login(self, user: User, password: str = TEST_PASSWORD) -> SignedIn:
        """Sign in through POST /api/v1/auth/login; the token works on every process of this stack."""
        answer = self.api("POST", "/api/v1/auth/login", json_body={"email": user.email, "password": password})
        assert answer.status == 200, answer
        return SignedIn(user=user, token=str(answer.body["access_token"]), password=password)

    def signed_in_user(self, *, is_admin: bool = False, password: str = TEST_PASSWORD) -> SignedIn:
        return self.login(self.create_user(is_admin=is_admin, password=password), password)

    def sandbox_account_ids(self) -> list[str]:
        """The sandbox's ad account ids (numeric, without `act_`), in generation order."""
        accounts = sorted(self.sandbox.data.accounts.values(), key=lambda account: account.index)
        return [account.account_id for account in accounts]

    def connect_account(self, caller: SignedIn, account_id: str) -> Answer:
        """Connect a sandbox account for `caller` through the API; an account an earlier test connected (the ids
        are the same all session) is first shared with them as a manager, as its owner would."""
        assert self.app is not None
        app = self.app

        async def share() -> None:
            await app[PG].execute(
                """insert into ad_account_members (account_id, user_id, role)
                   select id, $2, 'manager' from ad_accounts where id = $1
                   on conflict (account_id, user_id) do nothing""",
                account_id,
                caller.user.id,
            )

        self.call(share)
        answer = self.api(
            "POST", "/api/v1/ad-accounts", token=caller.token,
            json_body={"account_id": f"act_{account_id}", "access_token": SANDBOX_ACCESS_TOKEN},
        )  # fmt: skip
        assert answer.status in (200, 201), answer
        return answer

    def run_worker(self) -> None:
        """Run every queued job (the syncs that connecting an account queued, ...) once with the real arq worker
        in burst mode, against this server's sandbox."""
        from accounts.helpers import run_worker_burst

        with _environment(self._worker_env()):
            self.call(lambda: run_worker_burst(self.stack), timeout=300)

    def _worker_env(self) -> dict[str, str]:
        return {
            "DATABASE_URL": self.stack.database_url,
            "REDIS_URL": self.stack.redis_url,
            "SECRET_KEY": TEST_SECRET,
            "TOKEN_ENCRYPTION_KEY": TEST_TOKEN_KEY,
            "FACEBOOK_GRAPH_URL": self.graph_url,
            **FAST_WORKER_ENV,
        }


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """The worker reads its settings from the environment: set them for the burst, then put everything back."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
