"""Derived metrics from totals, without I/O."""

from decimal import Decimal

from adsvc.campaigns.metrics import Totals, derive


def test_ratios_from_sums():
    derived = derive(Totals(spend=Decimal("150.00"), impressions=20000, clicks=300, inline_link_clicks=250,
                            conversions=Decimal("6"), conversion_value=Decimal("450.00"), reach=15000))  # fmt: skip
    assert derived.ctr == Decimal("1.500000")
    assert derived.cpc == Decimal("0.5000")
    assert derived.cpm == Decimal("7.5000")
    assert derived.cpa == Decimal("25.0000")
    assert derived.roas == Decimal("3.000000")
    assert derived.frequency == Decimal("1.333333")


def test_zero_denominators_give_none_not_errors():
    derived = derive(Totals(spend=Decimal("0"), impressions=0, clicks=0, inline_link_clicks=0,
                            conversions=Decimal("0"), conversion_value=Decimal("0")))  # fmt: skip
    assert derived == type(derived)(ctr=None, cpc=None, cpm=None, cpa=None, roas=None, frequency=None)
