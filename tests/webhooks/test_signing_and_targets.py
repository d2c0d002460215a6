"""The signature scheme receivers implement, and which target addresses are allowed (no network, no database)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from adsvc.webhooks.config import WebhookSettings
from adsvc.webhooks.events import sign, verify
from adsvc.webhooks.targets import TargetRefused, address_allowed, check_target, parse_target

LOOPBACK = WebhookSettings.from_env({}).allowed_private_networks


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    body = b'{"id":"e1"}'
    expected = hmac.new(b"whsec_s", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("whsec_s", 1700000000, body) == f"sha256={expected}"


def test_verify_rejects_replays_tampering_and_other_secrets():
    body, ts = b'{"id":"e1"}', 1700000000
    signature = sign("whsec_s", ts, body)
    assert verify("whsec_s", ts, body, signature, now=ts + 299)
    assert not verify("whsec_s", ts, body, signature, now=ts + 301)  # replayed later
    assert not verify("whsec_s", ts + 1, body, signature, now=ts)  # timestamp changed
    assert not verify("whsec_s", ts, body + b" ", signature, now=ts)
    assert not verify("whsec_other", ts, body, signature, now=ts)


@pytest.mark.parametrize(
    ("address", "allowed"),
    [
        ("93.184.216.34", True),
        ("2606:2800:220:1:248:1893:25c8:1946", True),
        ("127.0.0.1", True),  # loopback is allowed by default (development, tests, a local n8n)
        ("::1", True),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("fd00::1", False),
        ("::ffff:10.0.0.1", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
    ],
)
def test_address_allowed_by_default(address, allowed):
    assert address_allowed(ipaddress.ip_address(address), LOOPBACK) is allowed


def test_production_setting_refuses_loopback_too():
    assert WebhookSettings.from_env({"WEBHOOK_ALLOWED_PRIVATE_NETWORKS": ""}).allowed_private_networks == ()
    assert not address_allowed(ipaddress.ip_address("127.0.0.1"), ())


def test_parse_target_shapes():
    assert parse_target("https://example.com/hook") == ("example.com", 443)
    assert parse_target("http://example.com:8080/hook") == ("example.com", 8080)
    for url in ("javascript:alert(1)", "http:///nohost", "http://a:b@example.com/", "http://example.com:99999/"):
        with pytest.raises(TargetRefused):
            parse_target(url)


async def test_hostnames_are_checked_on_what_they_resolve_to():
    await check_target("http://localhost:8080/hook", LOOPBACK)
    with pytest.raises(TargetRefused, match="private or reserved"):
        await check_target("http://localhost:8080/hook", ())
