"""The analytics engine on synthetic series, without a database: scores, moving averages, growth, anomalies."""

from __future__ import annotations

import statistics
from datetime import date
from decimal import Decimal

import pytest

from adsvc.analytics.engine import (
    DEFAULT_BENCHMARKS,
    Benchmarks,
    PeriodOverflow,
    Rating,
    detect_anomalies,
    growth,
    moving_average,
    percent_change,
    previous_period,
    rating_for,
    score_campaign,
)
from adsvc.campaigns.metrics import Totals

D = Decimal


def totals(spend="0", impressions=0, clicks=0, conversions="0", value="0") -> Totals:
    return Totals(spend=D(spend), impressions=impressions, clicks=clicks, inline_link_clicks=clicks,
                  conversions=D(conversions), conversion_value=D(value))  # fmt: skip


# ---- score ---------------------------------------------------------------------------------------------------------


def test_score_weights_the_three_parts_against_the_default_benchmarks():
    # CTR 1.0 % -> 50; CPA 25 -> capped at 100; ROAS 2.0 -> 80: (0.3*50 + 0.4*100 + 0.3*80) / 1.0 = 79
    score = score_campaign(totals("100", 10000, 100, "4", "200"), DEFAULT_BENCHMARKS)
    assert {part.metric: part.subscore for part in score.parts} == {"ctr": 50, "cpa": 100, "roas": 80}
    assert score.score == D("79.00")
    assert score.rating is Rating.BOM
    assert score.skipped == {}


def test_cpa_above_the_benchmark_scores_the_inverse_ratio():
    # CPA 100 against 50 -> 50; CTR 4 % -> capped 100; ROAS 5 -> capped 100: (30 + 20 + 30) / 1.0 = 80
    score = score_campaign(totals("400", 10000, 400, "4", "2000"), DEFAULT_BENCHMARKS)
    assert score.score == D("80.00") and score.rating is Rating.EXCELENTE


def test_parts_without_a_denominator_are_left_out_of_the_average():
    # no conversions and no value: CTR alone decides (1.5 % / 2.0 % = 75)
    score = score_campaign(totals("50", 20000, 300), DEFAULT_BENCHMARKS)
    assert [part.metric for part in score.parts] == ["ctr"]
    assert score.score == D("75.00") and score.rating is Rating.BOM
    assert score.skipped == {"cpa": "no conversions", "roas": "no conversion value"}
    # leads with no value: CTR and CPA, weights 0.3 and 0.4: (0.3*75 + 0.4*50) / 0.7 = 60.714...
    score = score_campaign(totals("500", 20000, 300, "5"), DEFAULT_BENCHMARKS)
    assert score.score == D("60.71") and score.rating is Rating.BOM


def test_no_impressions_means_no_score():
    score = score_campaign(totals(), DEFAULT_BENCHMARKS)
    assert score.score is None and score.rating is None
    assert score.skipped == {"ctr": "no impressions", "cpa": "no conversions", "roas": "no spend"}


def test_conversions_at_no_cost_score_full_cpa():
    score = score_campaign(totals("0", 1000, 20, "2"), DEFAULT_BENCHMARKS)
    assert {part.metric: part.subscore for part in score.parts} == {"ctr": 100, "cpa": 100}


def test_benchmarks_change_the_score():
    campaign = totals("100", 10000, 100, "4", "200")
    strict = score_campaign(campaign, Benchmarks(ctr=D("4"), cpa=D("10"), roas=D("8")))
    # CTR 25, CPA 40, ROAS 25: 7.5 + 16 + 7.5 = 31
    assert strict.score == D("31.00") and strict.rating is Rating.RUIM


@pytest.mark.parametrize(
    ("score", "rating"),
    [("80", "Excelente"), ("79.99", "Bom"), ("60", "Bom"), ("59.99", "Regular"), ("40", "Regular"),
     ("39.99", "Ruim"), ("0", "Ruim")],
)  # fmt: skip
def test_rating_thresholds(score, rating):
    assert rating_for(D(score)).value == rating


def test_every_rating_has_a_stable_code_beside_its_portuguese_label():
    assert {rating.value: rating.code for rating in Rating} == {
        "Excelente": "excellent", "Bom": "good", "Regular": "fair", "Ruim": "poor"
    }  # fmt: skip


# ---- periods and growth --------------------------------------------------------------------------------------------


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    assert previous_period(date(2025, 3, 8), date(2025, 3, 14)) == (date(2025, 3, 1), date(2025, 3, 7))
    assert previous_period(date(2025, 3, 1), date(2025, 3, 1)) == (date(2025, 2, 28), date(2025, 2, 28))
    with pytest.raises(PeriodOverflow):
        previous_period(date(1, 1, 3), date(1, 1, 9))


def test_percent_change():
    assert percent_change(D("150"), D("100")) == D("50.00")
    assert percent_change(D("50"), D("200")) == D("-75.00")
    assert percent_change(3, 0) is None
    assert percent_change(None, D("1")) is None
    assert percent_change(D("1"), D("3")) == D("-66.67")


def test_moving_average_of_an_additive_metric_is_the_mean_of_full_windows():
    days = [totals(str(n)) for n in range(1, 11)]  # spend 1..10
    ma = moving_average(days, "spend", 7)
    assert ma[:6] == [None] * 6
    assert ma[6:] == [D(4), D(5), D(6), D(7)]  # mean of 1..7, 2..8, ...


def test_moving_average_of_a_ratio_is_the_ratio_of_window_sums():
    # CTR day by day 10 % and 1 %: the 2-day CTR is 11 clicks / 1100 impressions = 1 %, not the 5.5 % mean
    days = [totals("1", 100, 10), totals("1", 1000, 1)]
    assert moving_average(days, "ctr", 2) == [None, D("1.000000")]


def test_windows_with_uncovered_days_have_no_average():
    days = [None, None, *[totals("5") for _ in range(8)]]
    assert moving_average(days, "spend", 7) == [None] * 8 + [D(5), D(5)]


def test_growth_compares_the_last_window_with_the_one_before():
    days = [totals("10", 1000, 10) for _ in range(7)] + [totals("15", 1000, 30) for _ in range(7)]
    spend = growth(days, "spend", 7)
    assert (spend.current, spend.previous, spend.change_pct) == (D(105), D(70), D("50.00"))
    ctr = growth(days, "ctr", 7)
    assert (ctr.current, ctr.previous, ctr.change_pct) == (D("3.000000"), D("1.000000"), D("200.00"))
    assert growth(days, "spend", 14).change_pct is None  # no 28 days of history
    assert growth([None, *days[1:]], "spend", 7).previous is None  # a hole in the previous window


# ---- anomalies -----------------------------------------------------------------------------------------------------

# a weekly pattern with a little noise: the kind of series a campaign's spend draws
BASE = [D(v) for v in (100, 104, 98, 102, 97, 110, 95, 101, 99, 103, 100, 96, 108, 94, 102, 100, 97, 105, 99, 101)]


def flags(values):
    return {index: verdict.flag for index, verdict in enumerate(detect_anomalies(values)) if verdict.flag}


def test_a_quiet_series_has_no_anomalies():
    assert flags(BASE) == {}


def test_a_spike_and_a_drop_are_flagged_high_and_low():
    series = list(BASE)
    series[15] = D(180)
    series[18] = D(40)
    verdicts = detect_anomalies(series)
    assert flags(series) == {15: "high", 18: "low"}
    assert verdicts[15].score > D("3.5") and verdicts[18].score < D("-3.5")
    # the baseline is the median of the 14 days before, the spike itself excluded
    assert verdicts[15].baseline == statistics.median(BASE[1:15]) == D("100.5")


def test_a_second_spike_is_still_caught_after_the_first():
    """The first spike sits in the second one's window: a mean/std test is blinded by it, the median and MAD not."""
    series = list(BASE)
    series[14] = D(400)
    series[17] = D(160)
    assert flags(series) == {14: "high", 17: "high"}
    window = series[3:17]
    mean = sum(window) / len(window)
    std = (sum((v - mean) ** 2 for v in window) / (len(window) - 1)).sqrt()
    assert series[17] < mean + 2 * std  # mean + 2 standard deviations would have missed it


def test_too_little_history_gives_no_verdict():
    series = [D(100)] * 6 + [D(1000)]
    assert detect_anomalies(series)[6].flag is None and detect_anomalies(series)[6].score is None
    assert detect_anomalies(series, min_points=3)[6].flag == "high"


def test_missing_values_are_skipped_not_read_as_zero():
    series: list[Decimal | None] = list(BASE)
    series[10] = None
    verdicts = detect_anomalies(series)
    assert verdicts[10].flag is None and verdicts[10].score is None
    assert flags(series) == {}


def test_a_constant_window_flags_any_change_without_a_score():
    series = [D(0)] * 10 + [D(50)]
    verdict = detect_anomalies(series)[10]
    assert verdict.flag == "high" and verdict.score is None
    assert detect_anomalies([D(0)] * 11)[10].flag is None


def test_mad_zero_falls_back_to_the_mean_absolute_deviation():
    # more than half the window identical: MAD 0, the mean absolute deviation (scaled) stands in
    series = [D(10)] * 10 + [D(12), D(8), D(11), D(9)] + [D(30)]
    verdict = detect_anomalies(series)[14]
    assert verdict.baseline == D(10)
    # mean |x - 10| over the 14 days = 6/14; z = 20 / (1.253314 * 6/14) = 37.2346
    assert verdict.score == D("37.23") and verdict.flag == "high"
