"""The signature scheme receivers implement, and which target addresses are allowed (no network, no database)."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

import pytest

from adsvc.webhooks.config import LOOPBACK_NETWORKS, WebhookSettings
from adsvc.webhooks.events import sign, verify
from adsvc.webhooks.targets import TargetGuard, TargetRefused, address_allowed, parse_target


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
        ("127.0.0.1", False),  # loopback: refused by default, as in production
        ("::1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.0.10", False),
        ("169.254.169.254", False),  # cloud metadata (link-local)
        ("fd00:ec2::254", False),  # AWS's IPv6 metadata address (unique-local)
        ("fe80::1", False),
        ("fe80::1%1", False),  # with a scope id
        ("100.64.0.1", False),  # carrier-grade NAT
        ("fd00::1", False),
        ("fec0::1", False),  # site-local, which Python calls global
        ("0.0.0.0", False),
        ("::", False),
        ("224.0.0.1", False),
        ("ff0e::1", False),  # global-scope multicast
        ("240.0.0.1", False),
        ("255.255.255.255", False),
        ("192.0.2.1", False),  # documentation
        ("::ffff:10.0.0.1", False),  # IPv4-mapped
        ("::ffff:127.0.0.1", False),
        ("::127.0.0.1", False),  # IPv4-compatible (deprecated), which Python calls global
        ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
        ("64:ff9b::5db8:d822", True),  # NAT64 of a public address
        ("2002:7f00:1::", False),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", False),  # 6to4 of 10.0.0.1
    ],
)
def test_address_allowed_by_default(address, allowed):
    assert WebhookSettings.from_env({}).allowed_private_networks == ()
    assert address_allowed(ipaddress.ip_address(address), ()) is allowed


def test_the_allow_list_opts_networks_in_in_every_spelling():
    loopback = WebhookSettings.from_env(
        {"WEBHOOK_ALLOWED_PRIVATE_NETWORKS": LOOPBACK_NETWORKS}
    ).allowed_private_networks
    for address in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "::127.0.0.1"):
        assert address_allowed(ipaddress.ip_address(address), loopback), address
    for address in ("10.0.0.1", "169.254.169.254", "::ffff:10.0.0.1", "fd00::1"):
        assert not address_allowed(ipaddress.ip_address(address), loopback), address


def test_parse_target_shapes():
    assert parse_target("https://example.com/hook") == ("example.com", 443)
    assert parse_target("http://EXAMPLE.com.:8080/hook") == ("example.com", 8080)  # trailing dot, case
    for url in ("javascript:alert(1)", "http:///nohost", "http://a:b@example.com/", "http://example.com:99999/",
                "http://./hook"):  # fmt: skip
        with pytest.raises(TargetRefused):
            parse_target(url)


@pytest.mark.parametrize("host", ["127.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "017700000001"])
def test_legacy_ipv4_spellings_are_refused_whatever_the_allow_list(host):
    with pytest.raises(TargetRefused, match="four decimal numbers"):
        parse_target(f"http://{host}:8080/hook")


async def test_hostnames_are_checked_on_what_they_resolve_to():
    await TargetGuard(WebhookSettings.from_env({"WEBHOOK_ALLOWED_PRIVATE_NETWORKS": LOOPBACK_NETWORKS})
                      .allowed_private_networks).check_url("http://localhost:8080/hook")  # fmt: skip
    for url in ("http://localhost:8080/hook", "http://LOCALHOST.:8080/hook", "http://api.localhost/hook"):
        with pytest.raises(TargetRefused, match="not allowed") as refused:
            await TargetGuard(()).check_url(url)
        assert "127.0.0.1" not in str(refused.value)  # never says where a name points
