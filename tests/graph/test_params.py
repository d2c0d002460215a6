from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import aiohttp
import pytest

from adsvc.graph.client import (
    BatchRequest,
    GraphClient,
    _split_dates,
    _split_fields,
    act,
    encode_params,
    fields_param,
    filtering,
    time_range,
)


def test_fields_are_comma_joined_on_get_and_a_json_array_on_post() -> None:
    assert fields_param(["id", "name"]) == "id,name"
    assert fields_param(["spend", "actions"], post=True) == '["spend","actions"]'
    assert fields_param("id, name") == "id,name"
    assert encode_params({"fields": ("id", "name")}) == {"fields": "id,name"}
    assert encode_params({"fields": ["spend"]}, post=True) == {"fields": '["spend"]'}


def test_params_are_strings_with_lists_and_dicts_as_json() -> None:
    encoded = encode_params(
        {
            "time_range": {"since": "2026-01-01", "until": "2026-01-31"},
            "breakdowns": ["age"],
            "limit": 50,
            "summary": True,
            "bid": Decimal("1.50"),
            "since": dt.date(2026, 1, 2),
            "after": None,
            "level": "ad",
        }
    )
    assert encoded == {
        "time_range": '{"since":"2026-01-01","until":"2026-01-31"}',
        "breakdowns": '["age"]',
        "limit": "50",
        "summary": "true",
        "bid": "1.50",
        "since": "2026-01-02",
        "level": "ad",
    }


def test_time_range_and_filtering_helpers() -> None:
    assert json.loads(time_range(dt.date(2026, 3, 1), "2026-03-31")) == {"since": "2026-03-01", "until": "2026-03-31"}
    rule = {"field": "campaign.id", "operator": "IN", "value": ["1", "2"]}
    assert json.loads(filtering([rule])) == [rule]
    assert act("123") == act("act_123") == "act_123"


def test_batch_entries_carry_no_version_and_no_token() -> None:
    get = BatchRequest.get("/123/", {"fields": ["id", "name"]}, name="first")
    assert get.entry() == {"method": "GET", "relative_url": "123/?fields=id%2Cname", "name": "first"}
    post = BatchRequest.post("456/", {"status": "PAUSED"})
    assert post.entry() == {"method": "POST", "relative_url": "456/", "body": "status=PAUSED"}


def test_daily_ranges_halve_and_other_shapes_do_not() -> None:
    params = {"time_range": {"since": "2026-01-01", "until": "2026-01-10"}, "time_increment": 1, "level": "ad"}
    halves = _split_dates(params)
    assert halves is not None
    assert [h["time_range"] for h in halves] == [
        {"since": "2026-01-01", "until": "2026-01-05"},
        {"since": "2026-01-06", "until": "2026-01-10"},
    ]
    assert _split_dates({**params, "time_range": '{"since":"2026-01-01","until":"2026-01-02"}'}) is not None
    # One day, or totals over the whole range (reach is not additive), cannot be split by date.
    assert _split_dates({**params, "time_range": {"since": "2026-01-01", "until": "2026-01-01"}}) is None
    assert _split_dates({**params, "time_increment": "all_days"}) is None
    assert _split_dates({"date_preset": "last_7d", "time_increment": 1}) is None


def test_fields_halve_keeping_the_row_identity() -> None:
    halves = _split_fields({"level": "adset", "fields": "adset_id,spend,impressions,clicks,date_start"})
    assert halves == (["adset_id"], ["spend"], ["impressions", "clicks"])
    assert _split_fields({"level": "ad", "fields": ["ad_id", "spend"]}) is None


async def test_next_links_lose_their_credentials_and_stay_on_our_host() -> None:
    async with aiohttp.ClientSession() as session:
        client = GraphClient(session=session, access_token="EAAtoken0123456789abcdef", base_url="http://127.0.0.1:9/")
        assert str(client.url("act_1/campaigns")) == "http://127.0.0.1:9/v26.0/act_1/campaigns"
        assert str(client.url("/123/")) == "http://127.0.0.1:9/v26.0/123/"
        link = "https://graph.facebook.com/v26.0/act_1/ads?access_token=EAAx&limit=2&after=QVFI&appsecret_proof=ab"
        assert str(client.url(link)) == "http://127.0.0.1:9/v26.0/act_1/ads?limit=2&after=QVFI"
        assert "EAAtoken" not in repr(client)


async def test_validate_needs_an_account() -> None:
    async with aiohttp.ClientSession() as session:
        client = GraphClient(session=session, access_token="t")
        with pytest.raises(ValueError, match="ad account"):
            await client.validate()
