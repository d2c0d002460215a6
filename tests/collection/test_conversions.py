"""The conversion precedence (adsvc.collection.conversions): never two types of one overlapping family added."""

from __future__ import annotations

from decimal import Decimal

import pytest

from adsvc.collection.conversions import DEFAULT_RULE, check_action_types, describe, overlap, rule_for
from adsvc.collection.records import insight_record


def test_pixel_only_purchases_count_as_conversions():
    assert DEFAULT_RULE.total({"offsite_conversion.fb_pixel_purchase": "3", "link_click": "40"}) == "3"


def test_omni_purchase_wins_over_its_overlapping_types_without_adding_them():
    row = {"omni_purchase": "5", "purchase": "5", "offsite_conversion.fb_pixel_purchase": "4",
           "onsite_web_purchase": "4"}  # fmt: skip
    assert DEFAULT_RULE.total(row) == "5"


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"purchase": "2", "offsite_conversion.fb_pixel_purchase": "2"}, "2"),
        ({"offsite_conversion.fb_pixel_purchase": "2", "onsite_web_purchase": "2"}, "2"),
        ({"onsite_web_purchase": "7"}, "7"),
    ],
)
def test_purchases_take_the_first_type_present(row, expected):
    assert DEFAULT_RULE.total(row) == expected


def test_lead_is_every_lead_so_its_parts_are_not_added():
    row = {"lead": "9", "onsite_conversion.lead_grouped": "6", "leadgen_grouped": "6",
           "offsite_conversion.fb_pixel_lead": "3"}  # fmt: skip
    assert DEFAULT_RULE.total(row) == "9"


def test_without_lead_on_meta_leads_and_pixel_leads_are_added_once_each():
    row = {"onsite_conversion.lead_grouped": "6", "leadgen_grouped": "6", "offsite_conversion.fb_pixel_lead": "3"}
    assert DEFAULT_RULE.total(row) == "9"
    assert DEFAULT_RULE.total({"leadgen_grouped": "4"}) == "4"


def test_purchases_and_leads_are_added_exactly():
    row = {"omni_purchase": "1.5", "purchase": "1.5", "offsite_conversion.fb_pixel_lead": "0.25"}
    assert Decimal(DEFAULT_RULE.total(row)) == Decimal("1.75")
    assert DEFAULT_RULE.total({"link_click": "3"}) == "0"
    assert DEFAULT_RULE.total({}) == "0"


def test_an_account_rule_adds_exactly_its_types():
    rule = rule_for(["offsite_conversion.fb_pixel_purchase", "offsite_conversion.custom.123"])
    row = {"omni_purchase": "9", "offsite_conversion.fb_pixel_purchase": "4", "offsite_conversion.custom.123": "2",
           "lead": "5"}  # fmt: skip
    assert rule.total(row) == "6"
    assert rule_for(None) is DEFAULT_RULE
    assert rule_for([]) is DEFAULT_RULE


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("omni_purchase", "purchase"),
        ("purchase", "offsite_conversion.fb_pixel_purchase"),
        ("offsite_conversion.fb_pixel_purchase", "onsite_web_purchase"),
        ("lead", "offsite_conversion.fb_pixel_lead"),
        ("lead", "leadgen_grouped"),
        ("onsite_conversion.lead_grouped", "leadgen_grouped"),
        ("lead", "lead"),
    ],
)
def test_types_of_one_chain_overlap(first, second):
    assert overlap(first, second) and overlap(second, first)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("purchase", "lead"),
        ("leadgen_grouped", "offsite_conversion.fb_pixel_lead"),
        ("onsite_conversion.lead_grouped", "offsite_conversion.fb_pixel_lead"),
        ("offsite_conversion.custom.1", "purchase"),
    ],
)
def test_disjoint_types_do_not_overlap(first, second):
    assert not overlap(first, second)


def test_check_refuses_overlaps_duplicates_and_bad_names():
    assert check_action_types(["offsite_conversion.fb_pixel_purchase", "leadgen_grouped",
                               "offsite_conversion.fb_pixel_lead"]) == []  # fmt: skip
    assert any("count the same" in p for p in check_action_types(["purchase", "omni_purchase"]))
    assert any("named twice" in p for p in check_action_types(["lead", "lead"]))
    assert any("not an action type" in p for p in check_action_types(["Purchase"]))
    assert any("not an action type" in p for p in check_action_types(["purchase; drop"]))
    assert check_action_types([])
    assert check_action_types([f"offsite_conversion.custom.{n}" for n in range(21)])


def test_the_rule_reads_as_documented():
    assert describe(DEFAULT_RULE.tree) == (
        "(omni_purchase > purchase > offsite_conversion.fb_pixel_purchase > onsite_web_purchase) + "
        "(lead > ((onsite_conversion.lead_grouped > leadgen_grouped) + offsite_conversion.fb_pixel_lead))"
    )


def test_ingest_records_count_conversions_and_value_by_the_rule():
    row = {
        "account_id": "act_1", "ad_id": "9", "date_start": "2026-11-01",
        "actions": [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
                    {"action_type": "offsite_conversion.fb_pixel_lead", "value": "1"}],
        "action_values": [{"action_type": "offsite_conversion.fb_pixel_purchase", "value": "99.90"}],
    }  # fmt: skip
    record = insight_record("ad", row)
    assert record[-2:] == ("3", "99.90")
    assert insight_record("ad", row, rule_for(["offsite_conversion.fb_pixel_lead"]))[-2:] == ("1", "0")


def test_rows_with_the_same_types_are_counted_by_their_own_values():
    rule = rule_for(["offsite_conversion.fb_pixel_purchase", "offsite_conversion.fb_pixel_lead"])
    for purchases, leads in (("2", "1"), ("7", "0"), ("1.5", "2")):
        row = {"offsite_conversion.fb_pixel_purchase": purchases, "offsite_conversion.fb_pixel_lead": leads}
        assert Decimal(rule.total(row)) == Decimal(purchases) + Decimal(leads)
    assert rule.total({"offsite_conversion.fb_pixel_lead": "4"}) == "4"
    assert DEFAULT_RULE.selected({"lead": "1", "omni_purchase": "2"}) == ("omni_purchase", "lead")
    assert DEFAULT_RULE.selected({"purchase": "1", "omni_purchase": "2"}) == ("omni_purchase",)
