"""Webhook, alert and n8n settings, read from the environment (kept here until they move into adsvc.settings)."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from adsvc.settings import ConfigError

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# No internal network by default: an operator opts one in (its n8n's exact range, say). `adsvc dev` and the tests
# set LOOPBACK_NETWORKS for their own local receivers.
DEFAULT_ALLOWED_PRIVATE = ""
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"
# The ceiling arq's max_tries is set to (jobs/webhooks.py); WEBHOOK_MAX_ATTEMPTS may not exceed it.
MAX_ATTEMPTS_CEILING = 20


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    raw = env.get(name)
    return default if raw is None or raw.strip() == "" else raw.strip()


def _number(env: Mapping[str, str], name: str, default: str) -> Decimal:
    raw = _get(env, name, default)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value.is_finite() or value < 0:
        raise ConfigError(f"{name} must be a non-negative number, got {raw!r}")
    return value


def _networks(env: Mapping[str, str], name: str, default: str) -> tuple[Network, ...]:
    raw = env.get(name, default)
    networks: list[Network] = []
    for part in raw.split(","):
        if part.strip():
            try:
                networks.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ConfigError(f"{name} must be a comma-separated list of networks, got {part.strip()!r}") from None
    return tuple(networks)


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    allowed_private_networks: tuple[Network, ...] = ()
    timeout_seconds: float = 10.0
    max_attempts: int = 8
    retry_base_seconds: float = 30.0
    retry_max_seconds: float = 6 * 3600.0
    ctr_drop_ratio: Decimal = Decimal("0.7")
    ctr_min_impressions: int = 1000
    spend_spike_factor: Decimal = Decimal("2")
    spend_min: Decimal = Decimal("10")
    n8n_api_url: str | None = None
    n8n_api_key: str | None = field(default=None, repr=False)
    n8n_timeout_seconds: float = 10.0
    public_url: str = "http://localhost:8000"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if env is None else env
        max_attempts = int(_number(env, "WEBHOOK_MAX_ATTEMPTS", "8"))
        if not 1 <= max_attempts <= MAX_ATTEMPTS_CEILING:
            raise ConfigError(f"WEBHOOK_MAX_ATTEMPTS must be between 1 and {MAX_ATTEMPTS_CEILING}")
        return cls(
            allowed_private_networks=_networks(env, "WEBHOOK_ALLOWED_PRIVATE_NETWORKS", DEFAULT_ALLOWED_PRIVATE),
            timeout_seconds=float(_number(env, "WEBHOOK_TIMEOUT_SECONDS", "10")),
            max_attempts=max_attempts,
            retry_base_seconds=float(_number(env, "WEBHOOK_RETRY_BASE_SECONDS", "30")),
            retry_max_seconds=float(_number(env, "WEBHOOK_RETRY_MAX_SECONDS", str(6 * 3600))),
            ctr_drop_ratio=_number(env, "ALERT_CTR_DROP_RATIO", "0.7"),
            ctr_min_impressions=int(_number(env, "ALERT_CTR_MIN_IMPRESSIONS", "1000")),
            spend_spike_factor=_number(env, "ALERT_SPEND_SPIKE_FACTOR", "2"),
            spend_min=_number(env, "ALERT_SPEND_MIN", "10"),
            n8n_api_url=_get(env, "N8N_API_URL", "").rstrip("/") or None,
            n8n_api_key=_get(env, "N8N_API_KEY", "") or None,
            n8n_timeout_seconds=float(_number(env, "N8N_TIMEOUT_SECONDS", "10")),
            public_url=_get(env, "ADSVC_PUBLIC_URL", "http://localhost:8000").rstrip("/"),
        )
