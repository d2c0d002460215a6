"""Which of Meta's action types are an insight row's conversions, counted once each. No I/O.

Meta reports one purchase under several action types at once, and they overlap:
- `omni_purchase` is every purchase, deduplicated across the website (pixel), the app, offline and Meta's own
  shops; `purchase` (Ads Manager's older "Purchases") reports the same purchases, equal to it on most accounts;
- `offsite_conversion.fb_pixel_purchase` is the website part, seen by the pixel, and `onsite_web_purchase` reports
  website purchases again. Both are contained in the two above (equal or a subset), never beside them.
So purchases count as the first of omni_purchase, purchase, offsite_conversion.fb_pixel_purchase,
onsite_web_purchase present in a row; adding any two of them would count one purchase twice.

Leads overlap differently:
- `lead` is every lead: instant forms and Messenger on Meta plus the website's pixel leads;
- `onsite_conversion.lead_grouped` and `leadgen_grouped` both count the leads submitted on Meta (forms, Messenger):
  the same leads under two names;
- `offsite_conversion.fb_pixel_lead` counts the website's leads: none of them was submitted on Meta.
So leads are `lead` when present; otherwise the on-Meta leads (onsite_conversion.lead_grouped, else
leadgen_grouped) plus the pixel leads, which are disjoint from them.

conversions = purchases + leads (each by the rule above), and conversion_value is the same rule applied to
`action_values`. An account may instead name its own conversion types (`rule_for`): those are added as they are,
so they must not overlap (`check_action_types` refuses two types of one chain, such as purchase and
offsite_conversion.fb_pixel_purchase), and a type outside these families (a custom conversion) is simply added.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

MAX_ACTION_TYPES = 20
# Meta's action types: lowercase words, dots and underscores, digits (offsite_conversion.custom.1234567890)
ACTION_TYPE_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$"
MAX_ACTION_TYPE_LENGTH = 100
_ACTION_TYPE = re.compile(ACTION_TYPE_PATTERN)
_MAX_NAME = MAX_ACTION_TYPE_LENGTH


@dataclass(frozen=True, slots=True)
class FirstOf:
    """The first alternative present in a row; the alternatives count the same things (they overlap)."""

    options: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """Every part present in a row, added; the parts count different things (they are disjoint)."""

    parts: tuple[Node, ...]


Node = str | FirstOf | AllOf

PURCHASES = FirstOf(("omni_purchase", "purchase", "offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"))
LEADS = FirstOf(
    (
        "lead",
        AllOf((FirstOf(("onsite_conversion.lead_grouped", "leadgen_grouped")), "offsite_conversion.fb_pixel_lead")),
    )
)
DEFAULT_PRECEDENCE = AllOf((PURCHASES, LEADS))


def _select(node: Node, present: Mapping[str, object]) -> list[str] | None:
    """The action types `node` counts in a row with these types present, or None when none of its types is."""
    if isinstance(node, str):
        return [node] if node in present else None
    if isinstance(node, FirstOf):
        for option in node.options:
            selected = _select(option, present)
            if selected is not None:
                return selected
        return None
    found: list[str] = []
    any_present = False
    for part in node.parts:
        selected = _select(part, present)
        if selected is not None:
            any_present = True
            found.extend(selected)
    return found if any_present else None


_SELECTIONS_KEPT = 4096


@dataclass(frozen=True, slots=True)
class ConversionRule:
    """How one account counts conversions; `action_types` is None for the default precedence."""

    action_types: tuple[str, ...] | None
    tree: Node
    # Which types a row counts depends only on which types it has, and an account's rows have few such sets:
    # remembered per set, the ingest (twice per row) does a dict lookup instead of walking the tree.
    _selections: dict[tuple[str, ...], tuple[str, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def selected(self, values: Mapping[str, object]) -> tuple[str, ...]:
        """The action types of this row that the rule adds up."""
        key = tuple(values)
        selection = self._selections.get(key)
        if selection is None:
            selection = tuple(_select(self.tree, values) or ())
            if len(self._selections) >= _SELECTIONS_KEPT:
                self._selections.clear()
            self._selections[key] = selection
        return selection

    def total(self, values: Mapping[str, str]) -> str:
        """The conversions (or their value) of one row's {action_type: value} as exact decimal text."""
        selection = self.selected(values)
        if not selection:
            return "0"
        if len(selection) == 1:
            return str(values[selection[0]])
        picked = [str(values[name]) for name in selection]
        if all(value.isascii() and value.isdigit() for value in picked):
            return str(sum(int(value) for value in picked))  # counts: whole numbers, no Decimal needed
        return str(sum((Decimal(value) for value in picked), Decimal(0)))


DEFAULT_RULE = ConversionRule(action_types=None, tree=DEFAULT_PRECEDENCE)


def rule_for(action_types: Sequence[str] | None) -> ConversionRule:
    """The rule of an account's setting: None (or empty) is the default precedence, else exactly those types."""
    if not action_types:
        return DEFAULT_RULE
    types = tuple(action_types)
    return ConversionRule(action_types=types, tree=AllOf(types))


def describe(node: Node, *, nested: bool = False) -> str:
    """The rule as one line a person can read: `a > b` is the first present, `a + b` adds them."""
    if isinstance(node, str):
        return node
    if isinstance(node, FirstOf):
        text = " > ".join(describe(option, nested=True) for option in node.options)
    else:
        text = " + ".join(describe(part, nested=True) for part in node.parts)
    return f"({text})" if nested else text


def _paths(node: Node, path: tuple[tuple[int, bool], ...], into: dict[str, tuple[tuple[int, bool], ...]]) -> None:
    """Each type's path from the root: (child index, whether that step leaves a FirstOf)."""
    if isinstance(node, str):
        into[node] = path
        return
    children = node.options if isinstance(node, FirstOf) else node.parts
    for index, child in enumerate(children):
        _paths(child, (*path, (index, isinstance(node, FirstOf))), into)


_PATHS: dict[str, tuple[tuple[int, bool], ...]] = {}
_paths(DEFAULT_PRECEDENCE, (), _PATHS)
KNOWN_ACTION_TYPES = frozenset(_PATHS)


def overlap(first: str, second: str) -> bool:
    """Whether two action types can count the same conversion: they meet first under a FirstOf node."""
    if first == second:
        return True
    a, b = _PATHS.get(first), _PATHS.get(second)
    if a is None or b is None:
        return False
    for step_a, step_b in zip(a, b, strict=False):
        if step_a != step_b:
            return step_a[1]  # the node where they part: FirstOf (overlapping) or AllOf (disjoint)
    return True


def check_action_types(action_types: Sequence[str]) -> list[str]:
    """What is wrong with an account's conversion types (empty when they can be used): bad names, duplicates, two
    types that count the same conversions, too many."""
    problems: list[str] = []
    if not action_types:
        problems.append("name at least one action type, or send null for the default precedence")
    if len(action_types) > MAX_ACTION_TYPES:
        problems.append(f"at most {MAX_ACTION_TYPES} action types")
    for name in action_types:
        if len(name) > _MAX_NAME or not _ACTION_TYPE.match(name):
            problems.append(f"{name[:_MAX_NAME]!r} is not an action type name (lowercase letters, digits, _ and .)")
    seen: set[str] = set()
    for index, name in enumerate(action_types):
        if name in seen:
            problems.append(f"{name!r} is named twice")
            continue
        seen.add(name)
        for other in action_types[:index]:
            if other != name and overlap(other, name):
                problems.append(f"{other!r} and {name!r} count the same conversions: adding them counts them twice")
    return problems
