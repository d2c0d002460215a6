"""Where outbound calls to user-given URLs may go: http(s) only, and no internal address unless the operator
allowed its network.

Server-side request forgery is the risk: a webhook is a URL we POST to from inside our network, so without a check a
user could make adsvc call the cloud metadata service (169.254.169.254), an internal admin port or a database. Every
address that is not publicly routable is refused (loopback, private, link-local, shared CGNAT space, unique-local,
site-local, multicast, reserved, unspecified, documentation, and the IPv6 forms that embed such an IPv4 address:
mapped, compatible, NAT64, 6to4, Teredo) unless it falls in WEBHOOK_ALLOWED_PRIVATE_NETWORKS (default: none;
`adsvc dev` and the tests allow loopback for their own receivers).

The check runs twice. When a subscription is saved, `TargetGuard.check_url` resolves the host and refuses the URL if
any address is not allowed. At delivery the session's connector resolves through the same guard, which fails the
lookup when an address is not allowed, and its socket factory refuses every address a socket is about to connect to
(literal IPs never reach a resolver). So a name re-pointed inside after it was saved (DNS rebinding) is refused on
the address actually connected to, and deliveries never follow redirects.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

import aiohttp
from aiohappyeyeballs import AddrInfoType
from aiohttp.abc import AbstractResolver, ResolveResult

from adsvc.webhooks.config import Network

RESOLVE_TIMEOUT_SECONDS = 3.0
IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Refused even where Python's ipaddress calls them global (3.11 counts ::/96, fec0::/10 and most multicast as global).
_REFUSED: tuple[Network, ...] = tuple(
    ipaddress.ip_network(net)
    for net in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
        "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
        "224.0.0.0/4", "240.0.0.0/4",
        "::/96", "::ffff:0:0/96", "64:ff9b:1::/48", "100::/64", "2001:db8::/32", "fc00::/7", "fe80::/10",
        "fec0::/10", "ff00::/8",
    )
)  # fmt: skip
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_COMPATIBLE = ipaddress.ip_network("::/96")
_LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
ADDRESS_NOT_ALLOWED = "address not allowed"


class TargetRefused(Exception):
    """The URL may not be used as a webhook target; the message says why and is safe to show the user."""


class AddressNotAllowed(OSError):
    """Raised inside the connector for an address outside the allowed ones; aiohttp reports it as a connection
    error whose `os_error` is this (see `is_address_refusal`)."""

    def __init__(self) -> None:
        super().__init__(ADDRESS_NOT_ALLOWED)


def normalized_host(host: str) -> str:
    """Lower case, without the trailing dot of a fully qualified name (`LOCALHOST.` is `localhost`)."""
    return host.rstrip(".").lower()


def _legacy_ipv4(host: str) -> bool:
    """`127.1`, `2130706433`, `0x7f.1`, `0177.0.0.1`: forms the C resolver reads as an IPv4 address but that are not
    the dotted quad. We refuse them outright: they exist to slip past checks that compare strings."""
    try:
        socket.inet_aton(host)
    except OSError:
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def parse_target(url: str) -> tuple[str, int]:
    """Host (normalized) and port of an acceptable URL shape, or TargetRefused."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise TargetRefused("the URL is not valid") from None
    if parts.scheme not in ("http", "https"):
        raise TargetRefused("only http and https URLs are accepted")
    if not parts.hostname or not normalized_host(parts.hostname):
        raise TargetRefused("the URL has no host")
    if parts.username or parts.password:
        raise TargetRefused("credentials in the URL are not accepted; the signature authenticates us")
    if parts.fragment:
        raise TargetRefused("the URL must not have a fragment")
    host = normalized_host(parts.hostname)
    if _legacy_ipv4(host):
        raise TargetRefused("write an IPv4 address as four decimal numbers (a.b.c.d)")
    return host, port or (443 if parts.scheme == "https" else 80)


def _tunnelled_ipv4(address: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """IPv4 addresses a 6to4 or Teredo address leads to (Teredo: server and client)."""
    found: list[ipaddress.IPv4Address] = []
    if address.sixtofour is not None:
        found.append(address.sixtofour)
    if address.teredo is not None:
        found.extend(address.teredo)
    return found


def _allowed_one(address: IpAddress, allowed: Sequence[Network]) -> bool:
    if any(address.version == network.version and address in network for network in allowed):
        return True
    if any(address.version == network.version and address in network for network in _REFUSED):
        return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)


def address_allowed(address: IpAddress, allowed: Sequence[Network]) -> bool:
    """Whether a connection to `address` may be made: publicly routable, or inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address):
        address = ipaddress.IPv6Address(int(address))  # without a scope id (fe80::1%eth0)
        # mapped (::ffff:a.b.c.d), compatible (::a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) forms reach the IPv4
        # address itself
        if address.ipv4_mapped is not None:
            return _allowed_one(address.ipv4_mapped, allowed)
        if (address in _COMPATIBLE and int(address) > 1) or address in _NAT64:
            return _allowed_one(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF), allowed)
        return _allowed_one(address, allowed) and all(_allowed_one(v4, allowed) for v4 in _tunnelled_ipv4(address))
    return _allowed_one(address, allowed)


def _parse_address(text: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class TargetGuard(AbstractResolver):
    """A resolver for aiohttp's TCPConnector that fails a lookup with `AddressNotAllowed` when any address is not
    allowed, a socket factory that refuses every address a socket is about to connect to, and the check run when a
    URL is saved. `resolver` is the real lookup (the system's, through threads, by default)."""

    def __init__(self, allowed: Sequence[Network], *, resolver: AbstractResolver | None = None) -> None:
        self.allowed = tuple(allowed)
        self._resolver = resolver

    def _inner(self) -> AbstractResolver:
        if self._resolver is None:
            self._resolver = aiohttp.ThreadedResolver()
        return self._resolver

    def allows(self, address: IpAddress) -> bool:
        return address_allowed(address, self.allowed)

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        name = normalized_host(host)
        if _legacy_ipv4(name):
            raise AddressNotAllowed()
        # RFC 6761: these names are loopback whatever a resolver says (and `localhost.` may not resolve at all)
        if (name in LOOPBACK_NAMES or name.endswith(".localhost")) and not self.allows(_LOOPBACK):
            raise AddressNotAllowed()
        results = await self._inner().resolve(host, port, family)
        for result in results:
            address = _parse_address(str(result["host"]).split("%")[0])
            if address is None or not self.allows(address):
                raise AddressNotAllowed()
        return results

    async def close(self) -> None:
        if self._resolver is not None:
            await self._resolver.close()

    def socket_factory(self, addr_info: AddrInfoType) -> socket.socket:
        """aiohttp's `socket_factory`: the last look at an address before connect(); literal IPs come only here."""
        family, type_, proto, _, sockaddr = addr_info
        address = _parse_address(str(sockaddr[0]).split("%")[0])
        if address is None or not self.allows(address):
            raise AddressNotAllowed()
        return socket.socket(family=family, type=type_, proto=proto)

    async def check_url(self, url: str) -> None:
        """Refuse (TargetRefused) a URL of the wrong shape or whose host has any address that is not allowed. The
        message never says what the name resolved to: that would map internal DNS for whoever asks."""
        host, port = parse_target(url)
        literal = _parse_address(host.strip("[]"))
        try:
            if literal is None:
                async with asyncio.timeout(RESOLVE_TIMEOUT_SECONDS):
                    await self.resolve(host, port, socket.AF_UNSPEC)
            elif not self.allows(literal):
                raise AddressNotAllowed()
        except AddressNotAllowed:
            raise TargetRefused(
                "the URL points to an address that is not allowed (loopback, private, link-local, shared or "
                "reserved); an operator can allow a network with WEBHOOK_ALLOWED_PRIVATE_NETWORKS"
            ) from None
        except (OSError, TimeoutError, UnicodeError):  # UnicodeError: a name IDNA cannot encode (a label too long)
            raise TargetRefused(f"the host {host} cannot be resolved") from None


def is_address_refusal(exc: BaseException) -> bool:
    """Whether a client error was the guard refusing an address (rather than the network failing)."""
    return isinstance(exc, AddressNotAllowed) or isinstance(getattr(exc, "os_error", None), AddressNotAllowed)


def guarded_session(guard: TargetGuard, *, user_agent: str) -> aiohttp.ClientSession:
    """A client session whose every connection goes through `guard`: for calls to URLs users chose, only."""
    connector = aiohttp.TCPConnector(resolver=guard, socket_factory=guard.socket_factory, limit=100)
    return aiohttp.ClientSession(connector=connector, headers={"User-Agent": user_agent}, trust_env=False)
