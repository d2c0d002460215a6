"""Event names, the payloads we send (our JSON envelope or Slack's incoming-webhook shape) and their signature.

Signature scheme (what a receiver checks):
    X-Adsvc-Timestamp: <unix seconds when this attempt was sent>
    X-Adsvc-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw request body>")>
A receiver recomputes the HMAC over the exact bytes it received with the secret shown when the subscription was
created, compares in constant time, and rejects a timestamp more than five minutes from its clock (a replayed
request keeps its old timestamp, and changing it breaks the signature). X-Adsvc-Delivery is the delivery id: the
same on every retry of one delivery, so receivers can also drop duplicates.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime
from decimal import Decimal
from typing import Any, Final, Literal

import orjson

Event = Literal[
    "suggestion.created",
    "action.applied",
    "action.failed",
    "rule.triggered",
    "sync.failed",
    "alert.ctr_drop",
    "alert.spend_spike",
    "alert.token_expiring",
    "test",
]
EVENTS: Final[tuple[str, ...]] = (
    "suggestion.created",
    "action.applied",
    "action.failed",
    "rule.triggered",
    "sync.failed",
    "alert.ctr_drop",
    "alert.spend_spike",
    "alert.token_expiring",
    "test",
)
Format = Literal["json", "slack"]
SIGNATURE_TOLERANCE_SECONDS: Final = 300
SECRET_PREFIX: Final = "whsec_"  # noqa: S105 - a prefix that makes leaked secrets easy to spot, not a secret


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The X-Adsvc-Signature header value for this body sent at this time."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(
    secret: str,
    timestamp: int,
    body: bytes,
    signature: str,
    *,
    now: float,
    tolerance: int = SIGNATURE_TOLERANCE_SECONDS,
) -> bool:
    """What a receiver does (our tests use it): constant-time compare, and no stale or future timestamps."""
    if abs(now - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def envelope(*, event_id: str, event: str, occurred_at: datetime, account_id: str | None, data: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "event": event,
        "occurred_at": occurred_at.isoformat(),
        "account_id": account_id,
        "data": data,
    }


def _slack_escape(text: str) -> str:
    # Slack's mrkdwn treats these three as control characters; campaign names are user data.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fmt(value: Any) -> str:
    if isinstance(value, float | Decimal):
        return f"{Decimal(str(value)):.2f}"
    return str(value)


def _object_label(data: dict[str, Any]) -> str:
    name = data.get("object_name") or data.get("object_id") or "the account"
    level = data.get("level")
    return f"{level} {name}" if level and level != "account" else str(name)


def summary(event: str, account_id: str | None, data: Any) -> str:
    """One line a person reads in Slack (or a notification), plain text before escaping."""
    info: dict[str, Any] = data if isinstance(data, dict) else {}
    account = f"account {account_id}" if account_id else "adsvc"
    if event == "alert.ctr_drop":
        return (
            f"CTR drop on {_object_label(info)} ({account}) on {info.get('date')}: {_fmt(info.get('ctr'))}% "
            f"vs {_fmt(info.get('trailing_ctr'))}% over the previous {info.get('trailing_days')} days"
        )
    if event == "alert.spend_spike":
        return (
            f"Spend spike on {_object_label(info)} ({account}) on {info.get('date')}: {_fmt(info.get('spend'))} "
            f"vs a daily average of {_fmt(info.get('trailing_average'))} ({_fmt(info.get('factor'))}x)"
        )
    if event == "alert.token_expiring":
        return f"The Meta access token of {account} is {info.get('token_status')}: reconnect the account"
    if event == "sync.failed":
        return f"A {info.get('kind', '')} sync of {account} failed ({info.get('error_kind')}): {info.get('error')}"
    if event == "suggestion.created":
        return f"New suggestion for {account}: {info.get('title') or info.get('kind') or 'see adsvc'}"
    if event in ("action.applied", "action.failed"):
        verb = "applied" if event == "action.applied" else "failed"
        return f"Action {verb} on {account}: {info.get('summary') or info.get('kind') or 'see adsvc'}"
    if event == "rule.triggered":
        matched = info.get("objects") or []
        names = ", ".join(str(o.get("object_name") or o.get("object_id")) for o in matched[:5] if isinstance(o, dict))
        more = f" and {len(matched) - 5} more" if len(matched) > 5 else ""
        note = f": {info['message']}" if info.get("message") else ""
        return f"Rule {info.get('rule_name')!r} matched {len(matched)} object(s) in {account}{note} ({names}{more})"
    if event == "test":
        return "Test delivery from adsvc: this webhook works"
    return f"{event} on {account}"


def slack_message(
    *, event_id: str, event: str, occurred_at: datetime, account_id: str | None, data: Any
) -> dict[str, Any]:
    """Slack's incoming-webhook shape: `text` is the notification fallback, `blocks` the rendered message."""
    text = _slack_escape(summary(event, account_id, data))
    fields: list[dict[str, str]] = []
    if isinstance(data, dict):
        for key, value in list(data.items())[:10]:  # Slack allows at most 10 fields per section
            if isinstance(value, str | int | float | Decimal) and not isinstance(value, bool):
                fields.append({"type": "mrkdwn", "text": f"*{_slack_escape(key)}*\n{_slack_escape(_fmt(value))[:200]}"})
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": event[:150]}},
        {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}},
    ]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    blocks.append(
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"event {_slack_escape(event_id)} at {occurred_at.isoformat()}"}],
        }
    )
    return {"text": text, "blocks": blocks}


def render(fmt: str, *, event_id: str, event: str, occurred_at: datetime, account_id: str | None, data: Any) -> bytes:
    """The exact body bytes we sign and send."""
    if fmt == "slack":
        payload = slack_message(
            event_id=event_id, event=event, occurred_at=occurred_at, account_id=account_id, data=data
        )
    else:
        payload = envelope(event_id=event_id, event=event, occurred_at=occurred_at, account_id=account_id, data=data)
    return orjson.dumps(payload, default=_json_default)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")
