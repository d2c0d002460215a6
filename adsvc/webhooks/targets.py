"""Where a webhook may point: http(s) only, and no private address unless the operator allowed its network.

Server-side request forgery is the risk: a subscription is a URL we POST to from inside our network, so without a
check a user could make adsvc call the cloud metadata service (169.254.169.254), an internal admin port or a
database. We refuse every address that is not globally routable (private, loopback, link-local, reserved,
multicast, unspecified) unless it falls in WEBHOOK_ALLOWED_PRIVATE_NETWORKS (default: loopback only, so tests,
`adsvc dev` and a local n8n work; production sets it to "" or to its n8n's exact range). The check runs when a
subscription is saved and again before every attempt, on every address the name resolves to, and deliveries never
follow redirects. What remains is a DNS-rebinding race between our lookup and the connection's own; closing it
needs a resolver that pins the checked address on the delivery session.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

from adsvc.webhooks.config import Network

RESOLVE_TIMEOUT_SECONDS = 3.0
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class TargetRefused(Exception):
    """The URL may not be used as a webhook target; the message says why and is safe to show the user."""


def parse_target(url: str) -> tuple[str, int]:
    """Host and port of an acceptable URL shape, or TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are accepted")
    if not parts.hostname:
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not accepted; the signature authenticates us")
    if parts.fragment:
        raise TargetRefused("the URL must not have a fragment")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def address_allowed(address: IpAddress, allowed: Sequence[Network]) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_multicast or address.is_unspecified:
        return False
    if address.is_global:
        return True
    return any(address.version == network.version and address in network for network in allowed)


async def resolve(host: str, port: int) -> list[IpAddress]:
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
            infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError, UnicodeError):  # UnicodeError: a name IDNA cannot encode (a label too long)
        raise TargetRefused(f"the host {host} cannot be resolved") from None
    # scope ids (fe80::1%eth0) are not part of the address
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


async def check_target(url: str, allowed: Sequence[Network]) -> None:
    """Refuse a URL whose scheme is not http(s) or whose host resolves to an address outside the allowed ones."""
    host, port = parse_target(url)
    for address in await resolve(host, port):
        if not address_allowed(address, allowed):
            raise TargetRefused(
                f"{host} resolves to {address}, a private or reserved address; "
                "an operator can allow its network with WEBHOOK_ALLOWED_PRIVATE_NETWORKS"
            )
