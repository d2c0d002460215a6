"""The rule form of the pages: a rule's spec as flat form fields and back (the body the API's own RuleIn / RulePatch
validate), the API's error locations as the form's field names, and a rule worded for people. No I/O.

Conditions are rows (metric, window, operator, value) joined by one `all` / `any`; a rule whose conditions nest
groups (the optimize-budgets preset does) is edited as JSON in the same form. Budget amounts are typed in the
account currency and sent in its minor units, as the API takes them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from adsvc.automation.schemas import RuleSpec
from adsvc.pages.changes import Translate, major_to_minor, minor_to_major
from adsvc.pages.i18n import NO_VALUE, Formatter

MIN_ROWS = 4
MAX_ROWS = 20
METRICS = ("spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversions", "conversion_value", "cpa", "roas")
WINDOWS = ("today", "yesterday", "last_3d", "last_7d", "last_14d", "last_30d")
OPERATORS = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤"}
LEVELS = ("campaign", "adset", "ad", "account")
ACTION_TYPES = ("pause", "activate", "change_budget", "notify")
_MONEY_FIELDS = ("action_amount", "action_min_budget", "action_max_budget")

NEW_RULE: dict[str, Any] = {
    "scope": {"level": "campaign"},
    "conditions": {"all": [{"metric": "ctr", "window": "last_7d", "operator": "lt", "value": 1}]},
    "min_spend": 20,
    "action": {"type": "pause"},
    "cooldown_minutes": 1440,
    "schedule": {"type": "interval", "every_minutes": 60},
}


def _blank() -> dict[str, Any]:
    values: dict[str, Any] = {key: "" for key in spec_to_form({}, currency="USD")}
    values["schedule_weekdays"] = []
    return values


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _flat(conditions: Mapping[str, Any]) -> tuple[str, list[Mapping[str, Any]]] | None:
    """(combinator, conditions) when the group holds conditions only; None when it nests groups."""
    combinator = "all" if conditions.get("all") is not None else "any"
    items = conditions.get(combinator) or []
    if any("metric" not in item for item in items):
        return None
    return combinator, items


def rows_needed(values: Mapping[str, Any]) -> int:
    filled = [i for i in range(MAX_ROWS) if values.get(f"cond_{i}_metric")]
    return min(MAX_ROWS, max(MIN_ROWS, (filled[-1] + 2) if filled else 0))


def spec_to_form(spec: Mapping[str, Any], *, currency: str, name: str = "", enabled: bool = True,
                 account_id: str = "") -> dict[str, Any]:  # fmt: skip
    """The form's fields for a rule spec (as the API stores and returns it)."""
    scope, action, schedule = spec.get("scope", {}), spec.get("action", {}), spec.get("schedule", {})
    values: dict[str, Any] = {
        "account_id": account_id,
        "name": name,
        "enabled": "on" if enabled else "",
        "level": scope.get("level", "campaign"),
        "object_ids": ", ".join(scope.get("object_ids") or []),
        "campaign_ids": ", ".join(scope.get("campaign_ids") or []),
        "statuses": ", ".join(scope.get("effective_statuses") or []),
        "name_contains": scope.get("name_contains") or "",
        "combinator": "all",
        "conditions_json": "",
        "min_spend": _text(spec.get("min_spend", 0)),
        "action_type": action.get("type", "pause"),
        "action_percent": _text(action.get("percent")),
        "action_amount": _text(minor_to_major(action.get("amount"), currency)),
        "action_min_budget": _text(minor_to_major(action.get("min_budget"), currency)),
        "action_max_budget": _text(minor_to_major(action.get("max_budget"), currency)),
        "action_message": action.get("message") or "",
        "cooldown_minutes": _text(spec.get("cooldown_minutes", 1440)),
        "schedule_type": schedule.get("type", "interval"),
        "schedule_every_minutes": _text(schedule.get("every_minutes", 60)),
        "schedule_at": schedule.get("at", "09:00"),
        "schedule_weekdays": [str(day) for day in schedule.get("weekdays") or []],
    }
    flat = _flat(spec.get("conditions", {}))
    if flat is None:
        values["conditions_json"] = json.dumps(spec.get("conditions"), indent=2)
    else:
        values["combinator"] = flat[0]
        for i, condition in enumerate(flat[1]):
            values[f"cond_{i}_metric"] = condition.get("metric", "")
            values[f"cond_{i}_window"] = condition.get("window", "last_7d")
            values[f"cond_{i}_operator"] = condition.get("operator", "lt")
            values[f"cond_{i}_value"] = _text(condition.get("value"))
    return values


def _decimal(text: str) -> Decimal | None:
    """A number as people type it: `1.5`, `1,5` and `1.234,56` all read."""
    cleaned = text.strip().replace(" ", "")
    if "," in cleaned:
        cleaned = cleaned.replace(".", "").replace(",", ".")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _ids(text: str) -> list[str] | None:
    found = [part.strip() for part in text.replace(";", ",").replace("\n", ",").split(",") if part.strip()]
    return found or None


class Converted:
    """The body built from a form, the fields that could not be read, and which form row each condition came from."""

    def __init__(self) -> None:
        self.body: dict[str, Any] = {}
        self.errors: dict[str, str] = {}
        self.rows: list[int] = []
        self.json_conditions = False


def form_to_body(values: Mapping[str, str], weekdays: Sequence[str], *, currency: str, _: Translate) -> Converted:
    """The API body for the form's fields (not validated: the API's model does that)."""
    out = Converted()

    def number(field: str) -> str | None:
        raw = values.get(field, "").strip()
        if not raw:
            return None
        parsed = _decimal(raw)
        if parsed is None:
            out.errors[field] = _("Enter a number.")
            return None
        return str(parsed)

    scope: dict[str, Any] = {"level": values.get("level", "")}
    listed_fields = (("object_ids", "object_ids"), ("campaign_ids", "campaign_ids"), ("statuses", "effective_statuses"))
    for field, key in listed_fields:
        listed = _ids(values.get(field, ""))
        if listed is not None:
            scope[key] = [item.upper() for item in listed] if field == "statuses" else listed
    if values.get("name_contains", "").strip():
        scope["name_contains"] = values["name_contains"].strip()
    body: dict[str, Any] = {"name": values.get("name", "").strip(), "enabled": values.get("enabled") == "on",
                            "scope": scope}  # fmt: skip
    if values.get("account_id"):
        body["account_id"] = values["account_id"]

    if values.get("conditions_json", "").strip():
        out.json_conditions = True
        try:
            body["conditions"] = json.loads(values["conditions_json"])
        except ValueError as exc:
            out.errors["conditions_json"] = _("This is not valid JSON: %(error)s") % {"error": str(exc)}
    else:
        items = []
        for i in range(MAX_ROWS):
            metric = values.get(f"cond_{i}_metric", "")
            if not metric:
                continue
            out.rows.append(i)
            value = number(f"cond_{i}_value")
            items.append({"metric": metric, "window": values.get(f"cond_{i}_window", "last_7d"),
                          "operator": values.get(f"cond_{i}_operator", ""),
                          "value": value if value is not None else ""})  # fmt: skip
        body["conditions"] = {"any" if values.get("combinator") == "any" else "all": items}

    min_spend = number("min_spend")
    if min_spend is not None:
        body["min_spend"] = min_spend
    action: dict[str, Any] = {"type": values.get("action_type", "")}
    if action["type"] == "change_budget":
        percent = number("action_percent")
        if percent is not None:
            action["percent"] = percent
        for field in _MONEY_FIELDS:
            amount = number(field)
            if amount is not None:
                action[field.removeprefix("action_")] = major_to_minor(Decimal(amount), currency)
    elif action["type"] == "notify" and values.get("action_message", "").strip():
        action["message"] = values["action_message"].strip()
    body["action"] = action
    cooldown = values.get("cooldown_minutes", "").strip()
    if cooldown:
        body["cooldown_minutes"] = cooldown
    schedule: dict[str, Any] = {"type": values.get("schedule_type", "")}
    if schedule["type"] == "daily":
        schedule["at"] = values.get("schedule_at", "").strip()
        if weekdays:
            schedule["weekdays"] = list(weekdays)
    else:
        schedule["every_minutes"] = values.get("schedule_every_minutes", "").strip()
    body["schedule"] = schedule
    out.body = body
    return out


_SCOPE_FIELDS = {"level": "level", "object_ids": "object_ids", "campaign_ids": "campaign_ids",
                 "effective_statuses": "statuses", "name_contains": "name_contains"}  # fmt: skip
_ACTION_FIELDS = ("percent", "amount", "min_budget", "max_budget", "message")
_SCHEDULE_FIELDS = {"every_minutes": "schedule_every_minutes", "at": "schedule_at", "weekdays": "schedule_weekdays"}


_CONDITION_PARTS = ("metric", "window", "operator", "value")


def form_field(loc: str, converted: Converted) -> str:
    """The form field an API error location (`conditions.all.0.RuleCondition.value`, `action.change_budget.percent`)
    names."""
    parts = [part for part in loc.split(".") if part not in ("body", "form", "RuleCondition")]
    head = parts[0] if parts else ""
    rest = parts[1:]
    if head == "scope":
        return _SCOPE_FIELDS.get(rest[0] if rest else "", "level")
    if head == "conditions":
        if converted.json_conditions:
            return "conditions_json"
        if len(rest) >= 3 and rest[1].isdigit() and int(rest[1]) < len(converted.rows):
            return f"cond_{converted.rows[int(rest[1])]}_{rest[2] if rest[2] in _CONDITION_PARTS else 'metric'}"
        return "conditions"
    if head == "action":
        named = [part for part in rest if part not in ACTION_TYPES]
        return "action_" + named[0] if named and named[0] in _ACTION_FIELDS else "action_type"
    if head == "schedule":
        named = [part for part in rest if part not in ("interval", "daily")]
        return _SCHEDULE_FIELDS.get(named[0] if named else "", "schedule_type")
    if head in ("account_id", "name", "enabled", "min_spend", "cooldown_minutes"):
        return head
    return "form"


ModelT = TypeVar("ModelT", bound=BaseModel)


def validate(
    model: type[ModelT], converted: Converted, *, _: Translate, fmt: Formatter, currency: str
) -> tuple[ModelT | None, dict[str, str]]:
    """The form's body validated by the API's own model: the model, or None and one message per form field, in
    the reader's language."""
    errors = dict(converted.errors)
    try:
        found = model.model_validate(converted.body)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"])
            if not converted.json_conditions and "function-after[" in loc:
                continue  # a row is a condition: the other member of the union (a nested group) says nothing useful
            field = form_field(loc, converted)
            errors.setdefault(field, error_text(_, fmt, error, field=field, currency=currency))
        return None, errors
    return (None, errors) if errors else (found, errors)


def api_errors(
    details: Sequence[Mapping[str, Any]], converted: Converted, *, _: Translate, fmt: Formatter, currency: str
) -> dict[str, str]:
    """An API ValidationFailed's details (the merged rule of an edit) as form field messages."""
    errors = dict(converted.errors)
    for detail in details:
        loc = ".".join(str(part) for part in detail.get("loc", []))
        field = form_field(loc, converted)
        errors.setdefault(field, error_text(_, fmt, detail, field=field, currency=currency))
    return errors or {"form": _("The rule is not valid.")}


_MONEY_ERRORS = ("action_amount", "action_min_budget", "action_max_budget")


def _bound(fmt: Formatter, value: Any, *, field: str, currency: str) -> str:
    if field in _MONEY_ERRORS:
        return fmt.money(minor_to_major(int(value), currency), currency)
    return fmt.number(Decimal(str(value)), 0 if float(value).is_integer() else 2)


def error_text(_: Translate, fmt: Formatter, error: Mapping[str, Any], *, field: str, currency: str) -> str:
    """A pydantic error of the API's models (or the API's own detail) as a sentence in the reader's language."""
    kind, ctx, message = str(error.get("type", "")), error.get("ctx") or {}, str(error.get("msg", ""))
    bounds = {"greater_than_equal": ("ge", _("Must be at least %(n)s.")),
              "less_than_equal": ("le", _("Must be at most %(n)s.")),
              "greater_than": ("gt", _("Must be more than %(n)s.")),
              "less_than": ("lt", _("Must be less than %(n)s."))}  # fmt: skip
    if kind in bounds and bounds[kind][0] in ctx:
        key, text = bounds[kind]
        return text % {"n": _bound(fmt, ctx[key], field=field, currency=currency)}
    if kind in ("float_parsing", "float_type", "decimal_parsing", "finite_number"):
        return _("Enter a number.")
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return _("Enter a whole number.")
    if kind == "string_too_short":
        return _("Enter a value.")
    if kind == "too_short":
        return _("Enter at least one.")
    if kind in ("string_too_long", "too_long"):
        return _("This is too long.")
    if kind in ("literal_error", "union_tag_invalid", "union_tag_not_found", "enum"):
        return _("Choose one of the options.")
    if kind == "missing":
        return _("This field is required.")
    if kind == "string_pattern_mismatch":
        patterns = {
            "schedule_at": _("Use HH:MM, for example 08:30."),
            "object_ids": _("Ids are digits only."),
            "campaign_ids": _("Ids are digits only."),
            "statuses": _("Statuses are words in capitals, such as ACTIVE or PAUSED."),
            "account_id": _("Choose one of the accounts you manage."),
        }
        return patterns.get(field, _("This value is not in the expected form."))
    rules = {
        "can only notify": _("An account-level rule can only notify: an ad account cannot be paused or budgeted."),
        "ads have no budget": _("Ads have no budget: change budgets at campaign or ad set level."),
        "exactly one of 'percent' or 'amount'": _("Give either a percent or a new daily budget, not both."),
        "a percent of 0": _("A change of zero percent changes nothing."),
        "min_budget is above max_budget": _("The lowest daily budget is above the highest."),
        "exactly one of 'all' or 'any'": _("A condition group takes exactly one of all or any."),
        "nest at most": _("Conditions nest at most four groups deep."),
        "a rule has at most": _("A rule has at most twenty conditions."),
    }
    for clue, text in rules.items():
        if clue in message:
            return text
    return message.removeprefix("Value error, ")


# ---- a rule worded for people ------------------------------------------------------------------------------------


def metric_label(_: Translate, metric: str) -> str:
    labels = {
        "spend": _("Spend"),
        "impressions": _("Impressions"),
        "clicks": _("Clicks"),
        "ctr": _("CTR"),
        "cpc": _("CPC"),
        "cpm": _("CPM"),
        "conversions": _("Conversions"),
        "conversion_value": _("Conversion value"),
        "cpa": _("CPA"),
        "roas": _("ROAS"),
    }
    return labels.get(metric, metric)


def window_label(_: Translate, window: str) -> str:
    labels = {
        "today": _("today"),
        "yesterday": _("yesterday"),
        "last_3d": _("last 3 days"),
        "last_7d": _("last 7 days"),
        "last_14d": _("last 14 days"),
        "last_30d": _("last 30 days"),
    }
    return labels.get(window, window)


def level_label(_: Translate, level: str) -> str:
    labels = {"campaign": _("Campaigns"), "adset": _("Ad sets"), "ad": _("Ads"), "account": _("The ad account")}
    return labels.get(level, level)


def conditions_text(_: Translate, fmt: Formatter, group: Mapping[str, Any], *, nested: bool = False) -> str:
    combinator = "all" if group.get("all") is not None else "any"
    parts = []
    for item in group.get(combinator) or []:
        if "metric" in item:
            value = fmt.number(Decimal(str(item["value"])), 2).rstrip("0").rstrip(",.")
            parts.append(f"{metric_label(_, item['metric'])} ({window_label(_, item['window'])}) "
                         f"{OPERATORS.get(item['operator'], item['operator'])} {value}")  # fmt: skip
        else:
            parts.append(conditions_text(_, fmt, item, nested=True))
    joined = (" " + (_("and") if combinator == "all" else _("or")) + " ").join(parts)
    return f"({joined})" if nested and len(parts) > 1 else joined


def action_text(_: Translate, fmt: Formatter, action: Mapping[str, Any], currency: str) -> str:
    kind = action.get("type")
    if kind == "pause":
        return _("Pause")
    if kind == "activate":
        return _("Activate")
    if kind == "notify":
        return _("Notify (a rule.triggered webhook event)")
    if action.get("amount") is not None:
        text = _("Set the daily budget to %(amount)s") % {
            "amount": fmt.money(minor_to_major(action["amount"], currency), currency)
        }
    else:
        percent = Decimal(str(action.get("percent", 0)))
        text = _("Change the daily budget by %(percent)s") % {
            "percent": ("+" if percent > 0 else "") + fmt.percent(percent, 0)
        }
    low, high = action.get("min_budget"), action.get("max_budget")
    if low is not None or high is not None:
        text += " " + _("(kept between %(low)s and %(high)s)") % {
            "low": fmt.money(minor_to_major(low, currency), currency) if low is not None else NO_VALUE,
            "high": fmt.money(minor_to_major(high, currency), currency) if high is not None else NO_VALUE,
        }
    return text


def schedule_text(_: Translate, schedule: Mapping[str, Any]) -> str:
    if schedule.get("type") == "daily":
        days = schedule.get("weekdays")
        names = [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")]
        text = _("Daily at %(at)s") % {"at": schedule.get("at", "")}
        if days:
            text += " (" + ", ".join(names[int(d) - 1] for d in days) + ")"
        return text
    return _("Every %(minutes)s minutes") % {"minutes": schedule.get("every_minutes", "")}


def weekday_names(_: Translate) -> list[tuple[str, str]]:
    return list(zip([str(d) for d in range(1, 8)],
                    [_("Mon"), _("Tue"), _("Wed"), _("Thu"), _("Fri"), _("Sat"), _("Sun")], strict=True))  # fmt: skip


def stored_spec(spec: RuleSpec) -> dict[str, Any]:
    """A validated spec as the API stores and returns it (the combinator not used left out)."""
    return spec.model_dump(mode="json", exclude_none=True)


# every field of the form, empty: a form posted with fields missing is shown again with them blank
BLANK_FORM = _blank()
