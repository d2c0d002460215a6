"""Webhooks cannot be aimed inside: every spelling of an internal address refused when saved, the address actually
connected to checked at delivery (DNS rebinding after creation gets nowhere), and delivery errors in the receiver's
terms without internal addresses or ports. Real sockets, a real receiver, the real worker."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import aiohttp
import pytest
from accounts.helpers import insert_account, new_caller
from aiohttp.abc import AbstractResolver, ResolveResult
from webhooks.helpers import run_webhook_worker

from adsvc.keys import ARQ, PG
from adsvc.webhooks.config import LOOPBACK_NETWORKS, WebhookSettings
from adsvc.webhooks.deliveries import attempt, emit_event
from adsvc.webhooks.queries import Outgoing
from adsvc.webhooks.targets import TargetGuard, TargetRefused, guarded_session

PUBLIC = "93.184.215.14"
REBOUND = "hooks.rebind.test"

INTERNAL_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://127.1:8080/hook",
    "http://2130706433/hook",
    "http://0x7f.1/hook",
    "http://0x7f000001/hook",
    "http://0177.0.0.1/hook",
    "http://[::1]:8080/hook",
    "http://[::ffff:127.0.0.1]:8080/hook",
    "http://[::ffff:7f00:1]/hook",
    "http://[::127.0.0.1]/hook",
    "http://[64:ff9b::7f00:1]/hook",
    "http://localhost:8080/hook",
    "http://LocalHost./hook",
    "http://api.localhost/hook",
    "http://10.0.0.1/hook",
    "http://172.16.5.4/hook",
    "http://192.168.1.1/hook",
    "http://100.64.0.1/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/latest/meta-data/",
    "http://[fe80::1%25eth0]/hook",
    "http://[fc00::1]/hook",
    "http://0.0.0.0:8000/hook",
    "http://[::]/hook",
    "http://224.0.0.1/hook",
    "http://[ff02::1]/hook",
    "http://240.0.0.1/hook",
]


class ScriptedDns(AbstractResolver):
    """A name server we control: each name answers the addresses in `answers` at the moment it is asked."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        self.asked.append(host)
        if host not in self.answers:
            raise OSError(f"no such name {host}")
        return [
            {"hostname": host, "host": address, "port": port, "family": socket.AF_INET6 if ":" in address else
             socket.AF_INET, "proto": 0, "flags": socket.AI_NUMERICHOST}
            for address in self.answers[host]
        ]  # fmt: skip

    async def close(self) -> None:
        pass


@pytest.fixture
async def owner(client, db, settings):
    caller = await new_caller(client, db, settings)
    account_id = await insert_account(db, user_id=caller.user.id)
    return caller, account_id


def _outgoing(url: str) -> Outgoing:
    return Outgoing(id=1, status="pending", attempts=0, webhook_id=1, url=url, format="json", active=True,
                    secret_ciphertext=b"", event_id="evt-1", event="test", account_id=None,
                    occurred_at=datetime.now(UTC), data={})  # fmt: skip


@pytest.mark.parametrize("url", INTERNAL_URLS)
async def test_every_spelling_of_an_internal_address_is_refused_when_saved(client, owner, monkeypatch, url):
    monkeypatch.delenv("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", raising=False)
    caller, _ = owner
    response = await client.post("/api/v1/webhooks", json={"url": url, "events": ["test"]}, headers=caller.headers)
    assert response.status == 422, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "webhook_url_refused" and error["details"][0]["loc"] == ["body", "url"]
    assert "127.0.0.1" not in error["message"] or "127.0.0.1" in url  # never says where a name points


async def test_an_update_to_an_internal_address_is_refused_too(client, owner, monkeypatch):
    monkeypatch.delenv("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", raising=False)
    caller, _ = owner
    created = await client.post("/api/v1/webhooks", json={"url": f"https://{PUBLIC}/hook", "events": ["test"]},
                                headers=caller.headers)  # fmt: skip
    assert created.status == 201, await created.text()
    path = f"/api/v1/webhooks/{(await created.json())['id']}"
    for url in ("http://[::ffff:127.0.0.1]/hook", "http://2130706433/hook", "http://localhost./hook"):
        patched = await client.patch(path, json={"url": url}, headers=caller.headers)
        assert patched.status == 422, url
    assert (await (await client.get(path, headers=caller.headers)).json())["url"] == f"https://{PUBLIC}/hook"


async def test_a_name_rebound_inside_after_creation_is_refused_on_the_address_connected_to(receiver):
    port = receiver.server.port
    dns = ScriptedDns({REBOUND: [PUBLIC]})
    guard = TargetGuard((), resolver=dns)
    url = f"http://{REBOUND}:{port}/hook"
    await guard.check_url(url)  # when saved, the name pointed at a public address

    dns.answers[REBOUND] = ["127.0.0.1"]  # then its owner re-pointed it at us
    settings = WebhookSettings(timeout_seconds=2)
    async with guarded_session(guard, user_agent="test") as session:
        outcome = await attempt(session, _outgoing(url), "whsec_x", settings)
    assert outcome.kind == "permanent" and outcome.status_code is None
    assert outcome.error == "address not allowed: the receiver's address is internal or reserved"
    assert receiver.received == [] and dns.asked == [REBOUND, REBOUND]

    # a mix of a public and an internal answer is refused as a whole
    dns.answers[REBOUND] = [PUBLIC, "127.0.0.1"]
    with pytest.raises(TargetRefused, match="not allowed"):
        await guard.check_url(url)

    # the same name and receiver with loopback allowed: the delivery arrives, so the refusal above was the guard's
    dns.answers[REBOUND] = ["127.0.0.1"]
    allowing = TargetGuard(WebhookSettings.from_env({"WEBHOOK_ALLOWED_PRIVATE_NETWORKS": LOOPBACK_NETWORKS})
                           .allowed_private_networks, resolver=dns)  # fmt: skip
    async with guarded_session(allowing, user_agent="test") as session:
        outcome = await attempt(session, _outgoing(url), "whsec_x", settings)
    assert outcome.kind == "delivered" and len(receiver.received) == 1


async def test_a_literal_address_is_checked_at_connect_time_not_only_when_saved(receiver):
    # a literal IP never reaches a resolver: the connector's socket factory is what refuses it
    async with guarded_session(TargetGuard(()), user_agent="test") as session:
        outcome = await attempt(session, _outgoing(receiver.url), "whsec_x", WebhookSettings(timeout_seconds=2))
        with pytest.raises(aiohttp.ClientConnectorError):
            await session.get(f"http://[::ffff:127.0.0.1]:{receiver.server.port}/hook")
    assert outcome.kind == "permanent" and outcome.error is not None and "not allowed" in outcome.error
    assert receiver.received == []


async def test_the_worker_refuses_a_target_the_allow_list_no_longer_covers(client, stack, owner, receiver,
                                                                           worker_env, monkeypatch):  # fmt: skip
    caller, account_id = owner
    created = await client.post("/api/v1/webhooks", json={"url": receiver.url, "events": ["sync.failed"]},
                                headers=caller.headers)  # fmt: skip
    assert created.status == 201  # saved while loopback was allowed
    monkeypatch.setenv("WEBHOOK_ALLOWED_PRIVATE_NETWORKS", "")  # then the operator closed it
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    worker = await run_webhook_worker(stack)
    assert receiver.received == [] and worker.jobs_retried == 0
    response = await client.get(f"/api/v1/webhooks/{(await created.json())['id']}/deliveries", headers=caller.headers)
    [delivery] = (await response.json())["data"]
    assert delivery["status"] == "failed" and delivery["attempts"] == 1
    assert delivery["last_error"] == "address not allowed: the receiver's address is internal or reserved"
    assert str(receiver.server.port) not in delivery["last_error"]


async def test_errors_are_told_in_the_receivers_terms_without_internal_addresses(client, stack, db, owner, receiver,
                                                                                 worker_env, monkeypatch):  # fmt: skip
    monkeypatch.setenv("WEBHOOK_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("WEBHOOK_TIMEOUT_SECONDS", "0.2")
    caller, account_id = owner
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    receiver.delays = [1.0]  # the first hit times out
    receiver.statuses = [404, 404]  # the other answers 404 (with a body the subscriber must not read back)
    urls = {"slow": receiver.url, "answering": receiver.url + "?b", "closed": f"http://127.0.0.1:{closed_port}/hook"}
    ids = {}
    for name, url in urls.items():
        created = await client.post("/api/v1/webhooks", json={"url": url, "events": ["sync.failed"]},
                                    headers=caller.headers)  # fmt: skip
        ids[name] = (await created.json())["id"]
    await emit_event(client.app[PG], client.app[ARQ], event="sync.failed", account_id=account_id, data={})
    await run_webhook_worker(stack)
    errors = dict(await db.fetch("select webhook_id, last_error from webhook_deliveries where webhook_id = any($1)",
                                 list(ids.values())))  # fmt: skip
    texts = {name: errors[webhook_id] for name, webhook_id in ids.items()}
    assert texts["closed"] == "connection refused by the receiver"
    assert {texts["slow"], texts["answering"]} == {"receiver timed out (no answer within 0.2 s)", "HTTP 404"}
    assert not any("127.0.0.1" in text or str(closed_port) in text for text in texts.values())
