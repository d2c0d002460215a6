"""How the pages word a change at Meta, in the reader's language: an object's field before -> after (statuses by
name, budgets as money of the account currency), what a suggestion proposes, the numbers behind it, and why the
planner refuses a change. No I/O: the handlers hand in the translation function and the formatter."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from babel.numbers import get_currency_precision

from adsvc.automation.planner import Plan, Refusal, Step
from adsvc.pages.i18n import NO_VALUE, Formatter

Translate = Callable[[str], str]


def minor_to_major(value: int | str | None, currency: str) -> Decimal | None:
    """A budget in minor units of the currency (5000 BRL = 50.00) as an amount of the currency."""
    if value is None or value == "":
        return None
    try:
        return Decimal(str(value)).scaleb(-get_currency_precision(currency))
    except InvalidOperation:
        return None


def major_to_minor(value: Decimal, currency: str) -> int:
    return int(value.scaleb(get_currency_precision(currency)).to_integral_value())


def status_label(_: Translate, status: str | None) -> str:
    labels = {
        "ACTIVE": _("Active"),
        "PAUSED": _("Paused"),
        "ARCHIVED": _("Archived"),
        "DELETED": _("Deleted"),
    }
    return NO_VALUE if status is None else labels.get(status, status)


def field_label(_: Translate, field: str | None) -> str:
    return {"status": _("Status"), "daily_budget": _("Daily budget")}.get(field or "", field or NO_VALUE)


def object_type_label(_: Translate, object_type: str) -> str:
    labels = {"campaign": _("Campaign"), "adset": _("Ad set"), "ad": _("Ad"), "account": _("Ad account")}
    return labels.get(object_type, object_type)


def value_text(_: Translate, fmt: Formatter, field: str | None, value: str | None, currency: str | None) -> str:
    """A field's value as people read it: a status by name, a daily budget as money."""
    if value is None:
        return NO_VALUE
    if field == "daily_budget" and currency:
        return fmt.money(minor_to_major(value, currency), currency)
    return status_label(_, value)


@dataclass(frozen=True, slots=True)
class Change:
    """One field of one object, before -> after, worded for the page."""

    object_type: str
    object_id: str
    object_name: str | None
    field: str
    before: str
    after: str


def change(
    _: Translate, fmt: Formatter, *, object_type: str, object_id: str, object_name: str | None, field: str,
    before: str | None, after: str | None, currency: str | None,
) -> Change:  # fmt: skip
    return Change(
        object_type=object_type, object_id=object_id, object_name=object_name, field=field_label(_, field),
        before=value_text(_, fmt, field, before, currency), after=value_text(_, fmt, field, after, currency),
    )  # fmt: skip


@dataclass(frozen=True, slots=True)
class Refused:
    """A step the planner will not make, and why."""

    object_type: str | None
    object_id: str | None
    object_name: str | None
    field: str | None
    why: str


def planned(_: Translate, fmt: Formatter, plan: Plan, *, names: Mapping[tuple[str, str], str]) -> Change:
    return change(_, fmt, object_type=plan.object_type, object_id=plan.object_id,
                  object_name=names.get((plan.object_type, plan.object_id)), field=plan.field, before=plan.before,
                  after=plan.after, currency=plan.currency)  # fmt: skip


def refused(
    _: Translate, fmt: Formatter, refusal: Refusal, *, step: Step | None, names: Mapping[tuple[str, str], str]
) -> Refused:
    if step is None:
        return Refused(None, None, None, None, refusal_text(_, fmt, refusal))
    return Refused(step.object_type, step.object_id, names.get((step.object_type, step.object_id)),
                   field_label(_, step.field), refusal_text(_, fmt, refusal))  # fmt: skip


def kind_label(_: Translate, kind: str) -> str:
    labels = {
        "pause_underperformer": _("Pause an underperformer"),
        "raise_budget": _("Raise the budget"),
        "lower_budget": _("Lower the budget"),
        "reallocation": _("Reallocate budgets"),
        "creative_fatigue": _("Creative fatigue"),
    }
    return labels.get(kind, kind)


def suggestion_status_label(_: Translate, status: str) -> str:
    labels = {
        "open": _("Open"),
        "accepted": _("Accepted"),
        "dismissed": _("Dismissed"),
        "applied": _("Applied"),
        "expired": _("Expired"),
    }
    return labels.get(status, status)


def action_status_label(_: Translate, status: str) -> str:
    labels = {"planned": _("Planned"), "applied": _("Applied"), "failed": _("Failed"), "reverted": _("Reverted")}
    return labels.get(status, status)


def source_label(_: Translate, source: str) -> str:
    labels = {"suggestion": _("Suggestion"), "rule": _("Rule"), "manual": _("Revert"), "legacy": _("Older endpoint")}
    return labels.get(source, source)


def proposal_text(_: Translate, fmt: Formatter, proposal: Mapping[str, Any], currency: str) -> str:
    """What a suggestion proposes, in one line."""
    action = proposal.get("action")
    if action == "pause":
        return _("Pause it")
    if action == "activate":
        return _("Activate it")
    if action == "set_daily_budget":
        return _("Daily budget %(before)s → %(after)s") % {
            "before": fmt.money(minor_to_major(proposal.get("from"), currency), currency),
            "after": fmt.money(minor_to_major(proposal.get("to"), currency), currency),
        }
    if action == "reallocate_daily_budgets":
        text = _("Move %(amount)s a day from the underperformers (%(sources)s) to the excellent (%(destinations)s)")
        return text % {
            "amount": fmt.money(minor_to_major(proposal.get("total"), currency), currency),
            "sources": fmt.number(len(proposal.get("sources", []))),
            "destinations": fmt.number(len(proposal.get("destinations", []))),
        }
    if action == "refresh_creatives":
        return _("Refresh its creatives or widen its audience (not applied automatically)")
    return str(action)


def _number(value: Any) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def evidence_rows(_: Translate, fmt: Formatter, evidence: Mapping[str, Any], currency: str) -> list[tuple[str, str]]:
    """The numbers behind a suggestion as (label, value) pairs, formatted for the locale; keys it does not know are
    left out."""

    def money(v: Any) -> str:
        return fmt.money(_number(v), currency)

    def count(v: Any) -> str:
        return fmt.number(_number(v))

    def ratio(v: Any) -> str:
        n = _number(v)
        return fmt.number(n, 0 if n is not None and n == n.to_integral_value() else 2)

    def percent(v: Any) -> str:
        return fmt.percent(_number(v))

    def share(v: Any) -> str:  # a fraction: 0.25 is 25%
        n = _number(v)
        return fmt.percent(None if n is None else n * 100, 1)

    def budget(v: Any) -> str:
        return fmt.money(minor_to_major(v, currency), currency)

    shown: list[tuple[str, str, Callable[[Any], str]]] = [
        ("spend", _("Spend"), money),
        ("impressions", _("Impressions"), count),
        ("clicks", _("Clicks"), count),
        ("ctr", _("CTR"), percent),
        ("conversions", _("Conversions"), ratio),
        ("cpa", _("CPA"), money),
        ("conversion_value", _("Conversion value"), money),
        ("roas", _("ROAS"), ratio),
        ("daily_budget", _("Daily budget"), budget),
        ("ctr_threshold", _("CTR threshold"), percent),
        ("cpa_threshold", _("CPA threshold"), money),
        ("min_spend", _("Minimum spend"), money),
        ("underperformers", _("Underperforming campaigns"), count),
        ("excellent", _("Excellent campaigns"), count),
        ("reallocation_percent", _("Share moved"), percent),
        ("frequency_rise", _("Frequency rise"), share),
        ("ctr_drop", _("CTR drop"), share),
    ]
    rows = [(label, show(evidence[key])) for key, label, show in shown if evidence.get(key) is not None]
    for key, label in (("first_half", _("First half")), ("second_half", _("Second half"))):
        half = evidence.get(key)
        if isinstance(half, Mapping):
            rows.append(
                (
                    label,
                    _("CTR %(ctr)s, frequency %(frequency)s")
                    % {"ctr": percent(half.get("ctr")), "frequency": ratio(half.get("frequency"))},
                )
            )
    return rows


def refusal_text(_: Translate, fmt: Formatter, refusal: Refusal, timezone: str | None = None) -> str:
    """Why the planner will not make a change, in the reader's language (its own message when the code is new)."""
    if refusal.code == "budget_change_limit" and refusal.retry_at is not None:
        return _("Meta allows four budget changes an hour; the next one is allowed at %(time)s.") % {
            "time": fmt.moment(refusal.retry_at, timezone)
        }
    texts = {
        "no_change": _("The object already has this value: there is nothing to change."),
        "object_not_found": _("The object is not stored for this account; sync the account first."),
        "not_applicable": _("This change cannot be made automatically."),
        "no_daily_budget": _("The object has no daily budget to change."),
        "not_revertible": _("No earlier value was recorded, so there is nothing to restore."),
        "invalid_proposal": _("The proposal cannot be applied as it stands."),
    }
    return texts.get(refusal.code, refusal.message)
