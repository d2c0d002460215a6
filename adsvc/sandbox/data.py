"""Deterministic seeded Marketing API data for the sandbox: accounts, objects, daily insights and their ground truth."""

from __future__ import annotations

import random
from array import array
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from itertools import product
from operator import add
from typing import Any
from zoneinfo import ZoneInfo

TIERS = ("standard", "development")
LEVELS = ("account", "campaign", "adset", "ad")
OBJECT_KINDS = ("campaign", "adset", "ad")
STATUSES = ("ACTIVE", "PAUSED", "ARCHIVED", "DELETED")
HIDDEN_STATUSES = frozenset({"ARCHIVED", "DELETED"})
RESTATEMENT_DAYS = 28
# Windows Meta still returns since 2026-01-12; 7d_view and 28d_view are accepted but never answered.
RETURNED_WINDOWS = ("1d_click", "7d_click", "28d_click", "1d_view")

# Column order of every daily series; conversion columns are the restated ones. purchase is the website's (pixel)
# purchases; onsite_purchase the purchases made on Meta itself (shops), which only "omni" accounts have.
COLUMNS = (
    "impressions", "clicks", "inline_link_clicks", "spend", "reach", "landing_page_view",
    "add_to_cart", "initiate_checkout", "purchase", "purchase_value", "lead", "onsite_purchase",
    "onsite_purchase_value",
)  # fmt: skip
IMP, CLK, LINK, SPEND, REACH, LPV, ATC, IC, PUR, PVAL, LEAD, ONPUR, ONPVAL = range(len(COLUMNS))
RESTATED = (PUR, PVAL, LEAD)
ADDITIVE = tuple(i for i in range(len(COLUMNS)) if i != REACH)

# How an account's purchases and leads show up among the action types, as on real accounts (see
# adsvc.collection.conversions for what each type counts):
# - "omni": website and on-Meta purchases, so omni_purchase = purchase = website + on-Meta, while the website-only
#   types (offsite_conversion.fb_pixel_purchase, onsite_web_purchase) count a subset; leads as lead and their pixel
#   twin (equal);
# - "pixel_only": purchases and leads only under the pixel types (offsite_conversion.fb_pixel_*);
# - "lead_forms": a lead-gen account, leads from instant forms as lead, onsite_conversion.lead_grouped and
#   leadgen_grouped (equal), purchases as purchase, its pixel twin and omni_purchase (equal).
CONVERSION_PROFILES = ("omni", "pixel_only", "lead_forms")

# (action_type, columns added, can be view-through); Meta reports the pixel twin of each website event too.
_FUNNEL_TYPES = (
    ("link_click", (LINK,), False),
    ("landing_page_view", (LPV,), False),
    ("add_to_cart", (ATC,), True),
    ("offsite_conversion.fb_pixel_add_to_cart", (ATC,), True),
    ("initiate_checkout", (IC,), True),
    ("offsite_conversion.fb_pixel_initiate_checkout", (IC,), True),
)
ACTION_TYPES: dict[str, tuple[tuple[str, tuple[int, ...], bool], ...]] = {
    "omni": (
        *_FUNNEL_TYPES,
        ("lead", (LEAD,), True),
        ("offsite_conversion.fb_pixel_lead", (LEAD,), True),
        ("omni_purchase", (PUR, ONPUR), True),
        ("purchase", (PUR, ONPUR), True),
        ("offsite_conversion.fb_pixel_purchase", (PUR,), True),
        ("onsite_web_purchase", (PUR,), True),
    ),
    "pixel_only": (
        *_FUNNEL_TYPES,
        ("offsite_conversion.fb_pixel_lead", (LEAD,), True),
        ("offsite_conversion.fb_pixel_purchase", (PUR,), True),
    ),
    "lead_forms": (
        *_FUNNEL_TYPES,
        ("lead", (LEAD,), True),
        ("onsite_conversion.lead_grouped", (LEAD,), True),
        ("leadgen_grouped", (LEAD,), True),
        ("purchase", (PUR,), True),
        ("offsite_conversion.fb_pixel_purchase", (PUR,), True),
        ("omni_purchase", (PUR,), True),
    ),
}
VALUE_TYPES: dict[str, tuple[tuple[str, tuple[int, ...], bool], ...]] = {
    "omni": (
        ("omni_purchase", (PVAL, ONPVAL), True),
        ("purchase", (PVAL, ONPVAL), True),
        ("offsite_conversion.fb_pixel_purchase", (PVAL,), True),
        ("onsite_web_purchase", (PVAL,), True),
    ),
    "pixel_only": (("offsite_conversion.fb_pixel_purchase", (PVAL,), True),),
    "lead_forms": (
        ("purchase", (PVAL,), True),
        ("offsite_conversion.fb_pixel_purchase", (PVAL,), True),
        ("omni_purchase", (PVAL,), True),
    ),
}
BREAKDOWN_VALUES: dict[str, tuple[str, ...]] = {
    "age": ("18-24", "25-34", "35-44", "45-54", "55-64", "65+"),
    "gender": ("female", "male", "unknown"),
    "publisher_platform": ("facebook", "instagram", "audience_network", "messenger"),
}
_BREAKDOWN_WEIGHTS: dict[str, tuple[int, ...]] = {
    "age": (140, 300, 240, 170, 100, 50),
    "gender": (520, 450, 30),
    "publisher_platform": (520, 400, 50, 30),
}

# (currency, timezone, business name, CPM in cents, daily budget range in major units, order value range in cents)
_ACCOUNT_PROFILES = (
    ("BRL", "America/Sao_Paulo", "Loja Aurora", 2600, (60, 400), (15000, 40000)),
    ("USD", "America/Los_Angeles", "Pacific Trail Outfitters", 1300, (25, 160), (5000, 14000)),
    ("EUR", "Europe/Berlin", "Nordlicht Wohnen", 1000, (20, 130), (4500, 12000)),
)
_OBJECTIVES = ("OUTCOME_SALES", "OUTCOME_LEADS", "OUTCOME_TRAFFIC")
_OBJECTIVE_LABEL = {"OUTCOME_SALES": "Sales", "OUTCOME_LEADS": "Leads", "OUTCOME_TRAFFIC": "Traffic"}
_OPTIMIZATION_GOAL = {
    "OUTCOME_SALES": "OFFSITE_CONVERSIONS",
    "OUTCOME_LEADS": "LEAD_GENERATION",
    "OUTCOME_TRAFFIC": "LANDING_PAGE_VIEWS",
}
_PRODUCTS = (
    "Summer Sandals", "Trail Jackets", "Linen Sheets", "Desk Lamps", "Coffee Beans", "Yoga Mats", "Backpacks",
    "Sofa Covers", "Running Shoes", "Gift Cards", "Free Consultation", "Newsletter", "Spring Sale", "Bundle Offer",
)  # fmt: skip
_AUDIENCES = ("Broad", "Lookalike 1%", "Lookalike 3%", "Retargeting 30d", "Interests", "Advantage+", "Engaged 90d")
_PLACEMENTS = ("Advantage+ placements", "Feeds only", "Stories and Reels", "Instagram only")
_FORMATS = ("Video", "Carousel", "Image", "Collection")
_HOOKS = ("UGC review", "Price drop", "Founder story", "Before/after", "Testimonial", "Free shipping", "Bestseller")
_BID_STRATEGIES = ("LOWEST_COST_WITHOUT_CAP", "COST_CAP", "LOWEST_COST_WITH_BID_CAP")
# Weekday (Monday first) and month multipliers, per mille: weekends and January are quieter, Q4 busier.
_WEEKDAY_PM = (1000, 1030, 1050, 1040, 990, 900, 880)
_MONTH_PM = (860, 900, 960, 980, 1000, 990, 970, 980, 1010, 1060, 1180, 1250)
# Missing share of conversions per mille by age in days (1 = yesterday), halved, thirded... with each restatement.
_MISSING_PM = tuple(0 if age == 0 else 300 * (RESTATEMENT_DAYS + 1 - age) // RESTATEMENT_DAYS for age in range(29))

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_EMPTY_COLUMNS: tuple[array[int], ...] = tuple(array("q") for _ in COLUMNS)


def mix64(value: int) -> int:
    """splitmix64 finaliser: a fast, well-spread stable hash of a 64-bit integer."""
    value = (value + _GOLDEN) & _MASK64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK64
    return value ^ (value >> 31)


def _sround(numerator: int, denominator: int, u10: int) -> int:
    """numerator / denominator rounded up with probability equal to its fraction (u10 is uniform in 0..1023)."""
    quotient, remainder = divmod(numerator, denominator)
    return quotient + (remainder * 1024 > u10 * denominator)


def money(minor_units: int) -> Decimal:
    return Decimal(minor_units).scaleb(-2)


def ratio(numerator: Decimal | int, denominator: Decimal | int) -> Decimal:
    """A derived metric as Meta reports it: six decimal places, rounded half up."""
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.000001"), rounding=ROUND_HALF_UP)


def number_string(value: Decimal | int) -> str:
    """Graph numeric strings: integers bare, money with two places, ratios without trailing zeros."""
    if isinstance(value, int):
        return str(value)
    text = f"{value:f}"
    if "." in text and len(text.split(".")[1]) > 2:
        text = text.rstrip("0").rstrip(".")
    return text


def graph_time(timestamp: int, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(timestamp, tz).strftime("%Y-%m-%dT%H:%M:%S%z")


@dataclass(frozen=True, slots=True)
class SandboxConfig:
    """Scale and shape of the generated data; equal configs give identical data."""

    seed: int = 7
    accounts: int = 3
    campaigns_per_account: int = 40
    adsets_per_campaign: int = 4
    ads_per_adset: int = 4
    days: int = 400
    today: date | None = None
    default_page_size: int = 25
    max_page_size: int = 500
    tier: str = "standard"

    def __post_init__(self) -> None:
        if self.today is None:
            object.__setattr__(self, "today", datetime.now(UTC).date())
        if self.tier not in TIERS:
            raise ValueError(f"tier must be one of {TIERS}")
        for name in ("accounts", "campaigns_per_account", "adsets_per_campaign", "ads_per_adset", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if not 1 <= self.default_page_size <= self.max_page_size:
            raise ValueError("default_page_size must be between 1 and max_page_size")

    @property
    def reference_date(self) -> date:
        """The sandbox's today: data ends the day before it in every account's timezone."""
        assert self.today is not None
        return self.today


@dataclass(frozen=True, slots=True)
class AdAccount:
    index: int
    account_id: str
    name: str
    currency: str
    timezone_name: str
    timezone_offset_hours_utc: float
    account_status: int
    created_time: int
    conversion_profile: str = "omni"

    @property
    def id(self) -> str:
        return f"act_{self.account_id}"

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone_name)


@dataclass(slots=True)
class AdObject:
    """A campaign, ad set or ad (or the account's own aggregate node, kind "account"); status fields are mutable."""

    kind: str
    id: str
    account_id: str
    name: str
    status: str
    objective: str
    created_time: int
    updated_time: int
    campaign_id: str | None = None
    adset_id: str | None = None
    daily_budget: int | None = None
    lifetime_budget: int | None = None
    bid_strategy: str | None = None
    start_time: int | None = None
    stop_time: int | None = None
    disapproved: bool = False
    first_day: int = 1
    last_day: int = 0
    children: list[str] = field(default_factory=list)
    # Delivery parameters of an ad: expected spend, CPM, CTR and funnel rates (see _ad_series).
    params: tuple[int, ...] = ()
    key: int = 0


@dataclass(slots=True)
class Series:
    """Daily values of one object from `first` (a date ordinal) on, one compact array per column."""

    first: int
    cols: tuple[array[int], ...]

    @property
    def last(self) -> int:
        return self.first + len(self.cols[0]) - 1

    def __len__(self) -> int:
        return len(self.cols[0])


@dataclass(frozen=True, slots=True)
class InsightsQuery:
    """A resolved insights request: which objects, which periods, which fields, at which restatement version."""

    account_id: str
    level: str
    object_ids: tuple[str, ...]
    buckets: tuple[tuple[int, int], ...]
    fields: tuple[str, ...]
    windows: tuple[str, ...] = ()
    breakdowns: tuple[str, ...] = ()
    version: int = 0


class SandboxData:
    """The generated world plus its mutable bits (statuses, budgets, restatement version); no I/O."""

    def __init__(self, config: SandboxConfig) -> None:
        self.config = config
        self.today = config.reference_date.toordinal()
        self.first_day = self.today - config.days
        self.last_day = self.today - 1
        self.restatement_version = 0
        self._seed_key = mix64(config.seed & _MASK64 ^ 0x5A5A_1234)
        self._day_pm = [
            _WEEKDAY_PM[date.fromordinal(d).weekday()] * _MONTH_PM[date.fromordinal(d).month - 1] // 1000
            for d in range(self.first_day, self.last_day + 1)
        ]
        self._series: dict[str, Series] = {}
        self._restated: dict[tuple[str, int], dict[int, tuple[int, int, int]]] = {}
        self._keys_cache: dict[InsightsQuery, list[tuple[int, int, int]]] = {}
        self.accounts: dict[str, AdAccount] = {}
        self.nodes: dict[str, AdObject] = {}
        self.by_account: dict[str, dict[str, list[AdObject]]] = {}
        self.latest_generated_time = 0
        self.reset()

    # ---- generation ---------------------------------------------------------------------------------------------

    def reset(self) -> None:
        """Regenerate every object (undoing updates) and restart restatement; cached series stay valid."""
        self.restatement_version = 0
        self._restated.clear()
        self._keys_cache.clear()
        self.accounts.clear()
        self.nodes.clear()
        self.by_account.clear()
        for index in range(self.config.accounts):
            self._generate_account(index)

    def _rng(self, *parts: object) -> random.Random:
        # Seeding with a string is stable across runs and platforms (sha512 of the text).
        return random.Random("/".join(["adsvc-sandbox", str(self.config.seed), *map(str, parts)]))

    def _instant(self, day: int, second: int, tz: ZoneInfo) -> int:
        d = date.fromordinal(day)
        return int((datetime(d.year, d.month, d.day, tzinfo=tz) + timedelta(seconds=second)).timestamp())

    def _generate_account(self, index: int) -> None:
        cfg = self.config
        currency, tz_name, business, cpm, budget_range, order_value = _ACCOUNT_PROFILES[index % len(_ACCOUNT_PROFILES)]
        rng = self._rng("account", index)
        numeric = str(10**14 + rng.randrange(9 * 10**14))
        while numeric in self.accounts:
            numeric = str(int(numeric) + 1)
        tz = ZoneInfo(tz_name)
        reference = datetime.combine(self.config.reference_date, datetime.min.time(), tzinfo=UTC)
        offset = reference.astimezone(tz).utcoffset() or timedelta()
        suffix = f" {index // len(_ACCOUNT_PROFILES) + 1}" if index >= len(_ACCOUNT_PROFILES) else ""
        account = AdAccount(
            index=index,
            account_id=numeric,
            name=f"{business}{suffix}",
            currency=currency,
            timezone_name=tz_name,
            timezone_offset_hours_utc=offset.total_seconds() / 3600,
            account_status=1,
            created_time=self._instant(self.first_day - 200 - rng.randrange(400), rng.randrange(86400), tz),
            conversion_profile=CONVERSION_PROFILES[index % len(CONVERSION_PROFILES)],
        )
        self.accounts[numeric] = account
        root = AdObject(
            kind="account",
            id=numeric,
            account_id=numeric,
            name=account.name,
            status="ACTIVE",
            objective="",
            created_time=account.created_time,
            updated_time=account.created_time,
            first_day=self.first_day,
            last_day=self.last_day,
            key=mix64(self._seed_key ^ int(numeric)),
        )
        self.nodes[numeric] = root
        lists: dict[str, list[AdObject]] = {kind: [] for kind in OBJECT_KINDS}
        base = 120_200_000_000_000_000 + (cfg.seed % 9973) * 10**11 + index * 10**9
        counters = {"adset": 0, "ad": 0}
        for c in range(cfg.campaigns_per_account):
            campaign = self._generate_campaign(account, tz, base, c, budget_range)
            root.children.append(campaign.id)
            lists["campaign"].append(campaign)
            for a in range(cfg.adsets_per_campaign):
                adset = self._generate_adset(account, tz, base, campaign, a, counters, budget_range)
                campaign.children.append(adset.id)
                lists["adset"].append(adset)
                ads = self._generate_ads(account, tz, base, campaign, adset, counters, cpm, order_value)
                adset.children.extend(ad.id for ad in ads)
                lists["ad"].extend(ads)
        for objects in lists.values():
            # Edges list the newest first, as Meta does.
            objects.sort(key=lambda o: (o.created_time, int(o.id)), reverse=True)
            for obj in objects:
                obj.key = mix64(self._seed_key ^ int(obj.id))
                self.nodes[obj.id] = obj
                self.latest_generated_time = max(self.latest_generated_time, obj.updated_time)
        self.by_account[numeric] = lists

    def _status(self, rng: random.Random, weights: tuple[int, int, int, int]) -> str:
        return rng.choices(STATUSES, weights=weights)[0]

    def _lifecycle(
        self, rng: random.Random, status: str, start_day: int, parent_last: int, tz: ZoneInfo, created: int
    ) -> tuple[int, int]:
        """(last day with delivery, updated_time): inactive objects stopped delivering the day they changed."""
        if status == "ACTIVE" or parent_last < start_day:
            end = parent_last
            updated_day = rng.randint(max(start_day, self.last_day - 60), self.last_day)
        else:
            end = rng.randint(start_day, max(start_day, parent_last))
            updated_day = end
        return end, max(created + 60, self._instant(updated_day, rng.randrange(86400), tz))

    def _generate_campaign(
        self, account: AdAccount, tz: ZoneInfo, base: int, c: int, budget_range: tuple[int, int]
    ) -> AdObject:
        rng = self._rng(account.index, "campaign", c)
        objective = rng.choices(_OBJECTIVES, weights=(50, 30, 20))[0]
        if account.conversion_profile == "lead_forms" and objective == "OUTCOME_SALES":
            objective = "OUTCOME_LEADS"  # a lead-gen business (drawn all the same: the rest stays as it was)
        # A few fixed positions so even tiny configs hold every status and both extremes of performance.
        forced = {1: "ARCHIVED", 2: "DELETED", 3: "PAUSED"}
        status = forced.get(c) or self._status(rng, (70, 15, 10, 5))
        quality = "star" if c == 0 else "poor" if c == 4 else rng.choices(("poor", "normal", "star"), (18, 67, 15))[0]
        start_day = rng.randint(self.first_day - 90, self.last_day - 10)
        start_time = self._instant(start_day, rng.randrange(86400), tz)
        created = start_time - rng.randint(600, 5 * 86400)
        stop_time = None
        last = self.last_day
        if status == "ACTIVE" and rng.random() < 0.25:
            stop_day = rng.randint(start_day + 7, self.last_day + 60)
            stop_time = self._instant(stop_day, rng.randrange(86400), tz)
            last = min(last, stop_day)
        end, updated = self._lifecycle(rng, status, start_day, last, tz, created)
        cbo = rng.random() < 0.3
        product_name = rng.choice(_PRODUCTS)
        obj = AdObject(
            kind="campaign",
            id=str(base + 100_000_000 + c),
            account_id=account.account_id,
            name=f"{_OBJECTIVE_LABEL[objective]} | {product_name} | {rng.choice(_AUDIENCES)} | "
            f"{date.fromordinal(start_day):%Y-%m}",
            status=status,
            objective=objective,
            created_time=created,
            updated_time=updated,
            start_time=start_time,
            stop_time=stop_time,
            first_day=max(start_day, self.first_day),
            last_day=end,
            daily_budget=rng.randint(*budget_range) * 100 * self.config.adsets_per_campaign if cbo else None,
            bid_strategy=rng.choices(_BID_STRATEGIES, (80, 15, 5))[0] if cbo else None,
        )
        obj.params = (("poor", "normal", "star").index(quality),)
        return obj

    def _generate_adset(
        self,
        account: AdAccount,
        tz: ZoneInfo,
        base: int,
        campaign: AdObject,
        a: int,
        counters: dict[str, int],
        budget_range: tuple[int, int],
    ) -> AdObject:
        rng = self._rng(account.index, campaign.id, "adset", a)
        counters["adset"] += 1
        assert campaign.start_time is not None
        camp_start_day = self._local_day(campaign.start_time, tz)
        start_day = camp_start_day if a == 0 else min(self.last_day, camp_start_day + rng.randint(0, 10))
        start_time = campaign.start_time if a == 0 else self._instant(start_day, rng.randrange(86400), tz)
        created = min(start_time - 60, campaign.created_time + rng.randint(60, 3600))
        status = self._status(rng, (76, 12, 7, 5))
        end, updated = self._lifecycle(rng, status, start_day, campaign.last_day, tz, created)
        daily_budget = lifetime_budget = None
        end_time = None
        if campaign.daily_budget is None:
            if rng.random() < 0.08:
                duration = rng.randint(14, 45)
                lifetime_budget = rng.randint(*budget_range) * 100 * duration
                end_time = self._instant(start_day + duration, rng.randrange(86400), tz)
                end = min(end, start_day + duration)
            else:
                daily_budget = rng.randint(*budget_range) * 100
        return AdObject(
            kind="adset",
            id=str(base + 200_000_000 + counters["adset"]),
            account_id=account.account_id,
            campaign_id=campaign.id,
            name=f"{rng.choice(_AUDIENCES)} | {rng.choice(('18-65+', '25-54', '18-34', '35-65+'))} | "
            f"{rng.choice(_PLACEMENTS)}",
            status=status,
            objective=campaign.objective,
            created_time=created,
            updated_time=updated,
            start_time=start_time,
            stop_time=end_time,
            daily_budget=daily_budget,
            lifetime_budget=lifetime_budget,
            bid_strategy=None if campaign.daily_budget else rng.choices(_BID_STRATEGIES, (80, 15, 5))[0],
            first_day=max(start_day, self.first_day, campaign.first_day),
            last_day=end,
        )

    def _generate_ads(
        self,
        account: AdAccount,
        tz: ZoneInfo,
        base: int,
        campaign: AdObject,
        adset: AdObject,
        counters: dict[str, int],
        cpm: int,
        order_value: tuple[int, int],
    ) -> list[AdObject]:
        rng = self._rng(account.index, adset.id, "ads")
        if adset.daily_budget is not None:
            budget = adset.daily_budget
        elif adset.lifetime_budget is not None:
            assert adset.stop_time is not None and adset.start_time is not None
            budget = adset.lifetime_budget * 86400 // max(86400, adset.stop_time - adset.start_time)
        else:
            budget = (campaign.daily_budget or 0) // self.config.adsets_per_campaign
        weights = [rng.randint(5, 20) for _ in range(self.config.ads_per_adset)]
        quality = campaign.params[0]
        assert adset.start_time is not None
        adset_start_day = self._local_day(adset.start_time, tz)
        ads = []
        for n, weight in enumerate(weights):
            counters["ad"] += 1
            ad_id = str(base + 300_000_000 + counters["ad"])
            start_day = adset_start_day if n == 0 else min(self.last_day, adset_start_day + rng.randint(0, 14))
            created = max(adset.created_time + 60, self._instant(start_day, 0, tz) - rng.randint(600, 86400))
            status = self._status(rng, (80, 10, 6, 4))
            disapproved = status == "ACTIVE" and rng.random() < 0.03
            end, updated = self._lifecycle(
                rng, "PAUSED" if disapproved else status, start_day, adset.last_day, tz, created
            )
            ad = AdObject(
                kind="ad",
                id=ad_id,
                account_id=account.account_id,
                campaign_id=campaign.id,
                adset_id=adset.id,
                name=f"{rng.choice(_FORMATS)} {n + 1} - {rng.choice(_HOOKS)}",
                status=status,
                objective=campaign.objective,
                created_time=created,
                updated_time=updated,
                disapproved=disapproved,
                first_day=max(start_day, adset.first_day),
                last_day=end,
            )
            ad.params = self._delivery_params(rng, campaign.objective, quality, budget * weight // sum(weights), cpm)
            ad.params += (rng.randint(*order_value),)
            ads.append(ad)
        return ads

    def _delivery_params(
        self, rng: random.Random, objective: str, quality: int, spend: int, cpm: int
    ) -> tuple[int, ...]:
        """(expected spend, cpm, ctr ppm, link pm, lpv pm, atc pm, ic pm, purchase pm, lead pm)."""
        ctr = (rng.randint(1500, 3500), rng.randint(8000, 18000), rng.randint(25000, 40000))[quality]
        link = rng.randint(700, 900)
        lpv = rng.randint(550, 850)
        atc = ic = purchase = lead = 0
        if objective == "OUTCOME_SALES":
            atc = (rng.randint(8, 25), rng.randint(100, 180), rng.randint(250, 350))[quality]
            ic = rng.randint(450, 700)
            purchase = (rng.randint(150, 300), rng.randint(450, 700), rng.randint(600, 800))[quality]
        elif objective == "OUTCOME_LEADS":
            lead = (rng.randint(5, 15), rng.randint(90, 160), rng.randint(220, 320))[quality]
        else:
            atc, ic, purchase = rng.randint(5, 20), 300, 300
        return (max(100, spend), cpm * rng.randint(700, 1400) // 1000, ctr, link, lpv, atc, ic, purchase, lead)

    @staticmethod
    def _local_day(timestamp: int, tz: ZoneInfo) -> int:
        return datetime.fromtimestamp(timestamp, tz).date().toordinal()

    # ---- lookups ------------------------------------------------------------------------------------------------

    def account(self, ref: str) -> AdAccount | None:
        """An account by `act_<id>` or its bare numeric id."""
        return self.accounts.get(ref.removeprefix("act_"))

    def node(self, object_id: str) -> AdObject | None:
        obj = self.nodes.get(object_id)
        return obj if obj is not None and obj.kind != "account" else None

    def parent(self, obj: AdObject, kind: str) -> AdObject:
        parent_id = obj.campaign_id if kind == "campaign" else obj.adset_id if kind == "adset" else obj.account_id
        assert parent_id is not None
        return self.nodes[parent_id]

    def effective_status(self, obj: AdObject) -> str:
        """Meta's effective_status: the object's own status unless a parent's status overrides it."""
        if obj.kind in ("account", "campaign") or obj.status in HIDDEN_STATUSES:
            return obj.status
        campaign = self.parent(obj, "campaign")
        adset = self.parent(obj, "adset") if obj.kind == "ad" else None
        for parent in (campaign, adset):
            if parent is not None and parent.status in HIDDEN_STATUSES:
                return parent.status
        if obj.status == "PAUSED":
            return "PAUSED"
        if campaign.status == "PAUSED":
            return "CAMPAIGN_PAUSED"
        if adset is not None and adset.status == "PAUSED":
            return "ADSET_PAUSED"
        if obj.disapproved:
            return "DISAPPROVED"
        return "ACTIVE"

    def object_fields(self, obj: AdObject) -> dict[str, Any]:
        """Every field the sandbox knows for a node, in Graph's representation (strings, account-offset times)."""
        tz = self.accounts[obj.account_id].tz
        fields: dict[str, Any] = {"id": obj.id, "account_id": obj.account_id, "name": obj.name}
        if obj.campaign_id:
            fields["campaign_id"] = obj.campaign_id
            fields["campaign"] = {"id": obj.campaign_id}
        if obj.adset_id:
            fields["adset_id"] = obj.adset_id
            fields["adset"] = {"id": obj.adset_id}
        fields["status"] = obj.status
        fields["configured_status"] = obj.status
        fields["effective_status"] = self.effective_status(obj)
        fields["created_time"] = graph_time(obj.created_time, tz)
        fields["updated_time"] = graph_time(obj.updated_time, tz)
        if obj.kind == "campaign":
            fields["objective"] = obj.objective
            fields["buying_type"] = "AUCTION"
            fields["special_ad_categories"] = []
        if obj.kind == "adset":
            fields["optimization_goal"] = _OPTIMIZATION_GOAL[obj.objective]
            fields["billing_event"] = "IMPRESSIONS"
        if obj.kind == "ad":
            fields["creative"] = {"id": str(int(obj.id) + 100_000_000)}
        if obj.daily_budget is not None:
            fields["daily_budget"] = str(obj.daily_budget)
        if obj.lifetime_budget is not None:
            fields["lifetime_budget"] = str(obj.lifetime_budget)
        if obj.daily_budget is not None or obj.lifetime_budget is not None:
            fields["budget_remaining"] = str(obj.daily_budget or obj.lifetime_budget)
        if obj.bid_strategy:
            fields["bid_strategy"] = obj.bid_strategy
        if obj.start_time is not None:
            fields["start_time"] = graph_time(obj.start_time, tz)
        if obj.stop_time is not None:
            fields["stop_time" if obj.kind == "campaign" else "end_time"] = graph_time(obj.stop_time, tz)
        return fields

    def account_fields(self, account: AdAccount, *, spend: bool = False) -> dict[str, Any]:
        """The account node; `amount_spent` needs the whole account's series, so it is computed only when asked."""
        fields: dict[str, Any] = {
            "id": account.id,
            "account_id": account.account_id,
            "name": account.name,
            "currency": account.currency,
            "timezone_name": account.timezone_name,
            "timezone_offset_hours_utc": account.timezone_offset_hours_utc,
            "account_status": account.account_status,
            "disable_reason": 0,
            "created_time": graph_time(account.created_time, account.tz),
        }
        if spend:
            fields["amount_spent"] = str(sum(self.series(account.account_id).cols[SPEND]))
        return fields

    def objects(self, account_id: str, kind: str) -> list[dict[str, Any]]:
        """Ground truth of one object kind: every object of every status, as Graph would show it, newest first."""
        account = self.account(account_id)
        if account is None or kind not in OBJECT_KINDS:
            raise KeyError(f"no {kind} list for account {account_id}")
        return [self.object_fields(obj) for obj in self.by_account[account.account_id][kind]]

    def level_objects(self, account_id: str, level: str) -> list[AdObject]:
        if level == "account":
            return [self.nodes[account_id]]
        return self.by_account[account_id][level]

    # ---- daily series -------------------------------------------------------------------------------------------

    def series(self, object_id: str) -> Series:
        """The object's final (fully attributed) daily values; computed once, then cached."""
        cached = self._series.get(object_id)
        if cached is None:
            obj = self.nodes[object_id]
            cached = self._ad_series(obj) if obj.kind == "ad" else self._parent_series(obj)
            self._series[object_id] = cached
        return cached

    def _ad_series(self, ad: AdObject) -> Series:
        if ad.first_day > ad.last_day:
            return Series(ad.first_day, _EMPTY_COLUMNS)
        spend_base, cpm, ctr, link_pm, lpv_pm, atc_pm, ic_pm, pur_pm, lead_pm, order_value = ad.params
        cols: list[list[int]] = [[] for _ in COLUMNS]
        imp_c, clk_c, link_c, spend_c, reach_c, lpv_c, atc_c, ic_c, pur_c, pval_c, lead_c, onpur_c, onpval_c = cols
        day_pm, first, key = self._day_pm, self.first_day, ad.key
        # on-Meta purchases, per mille of the website's (omni accounts only); drawn from the key, so every other
        # column is what it was before this column existed
        onsite_pm = 150 + mix64(key ^ 0x0E51) % 250 if self.accounts[ad.account_id].conversion_profile == "omni" else 0
        for day in range(ad.first_day, ad.last_day + 1):
            h1 = mix64(key ^ (day * _GOLDEN & _MASK64))
            h2 = mix64(h1)
            spend = max(1, spend_base * day_pm[day - first] * (600 + (h1 & 1023) * 800 // 1024) // 1_000_000)
            impressions = max(1, spend * 1_000_000 // (cpm * (850 + (h1 >> 10 & 1023) * 300 // 1024)))
            clicks = min(impressions, _sround(impressions * ctr * (700 + (h1 >> 20 & 1023) * 600 // 1024),
                                              10**9, h1 >> 30 & 1023))  # fmt: skip
            link = min(clicks, _sround(clicks * link_pm, 1000, h1 >> 40 & 1023))
            lpv = _sround(link * lpv_pm, 1000, h1 >> 50 & 1023)
            atc = _sround(lpv * atc_pm, 1000, h2 & 1023)
            ic = _sround(atc * ic_pm, 1000, h2 >> 10 & 1023)
            purchases = _sround(ic * pur_pm, 1000, h2 >> 20 & 1023)
            imp_c.append(impressions)
            clk_c.append(clicks)
            link_c.append(link)
            spend_c.append(spend)
            reach_c.append(max(1, impressions * (780 + (h2 >> 30 & 1023) * 180 // 1024) // 1000))
            lpv_c.append(lpv)
            atc_c.append(atc)
            ic_c.append(ic)
            pur_c.append(purchases)
            pval_c.append(purchases * order_value * (800 + (h2 >> 40 & 1023) * 400 // 1024) // 1000)
            lead_c.append(_sround(lpv * lead_pm, 1000, h2 >> 50 & 1023))
            onsite = _sround(purchases * onsite_pm, 1000, h1 >> 54 & 1023)
            onpur_c.append(onsite)
            onpval_c.append(onsite * order_value * (800 + (h2 >> 54 & 1023) * 400 // 1024) // 1000)
        return Series(ad.first_day, tuple(array("q", col) for col in cols))

    def _parent_series(self, obj: AdObject) -> Series:
        kids = [s for s in (self.series(child) for child in obj.children) if len(s)]
        if not kids:
            return Series(obj.first_day, _EMPTY_COLUMNS)
        first = min(k.first for k in kids)
        n = max(k.last for k in kids) - first + 1
        cols = [[0] * n for _ in COLUMNS]
        reach_max, reach_count = [0] * n, [0] * n
        for kid in kids:
            lo, hi = kid.first - first, kid.first - first + len(kid)
            for index in range(len(COLUMNS)):
                cols[index][lo:hi] = map(add, cols[index][lo:hi], kid.cols[index])
            reach = kid.cols[REACH]
            reach_max[lo:hi] = map(max, reach_max[lo:hi], reach)
            reach_count[lo:hi] = map(add, reach_count[lo:hi], map(bool, reach))
        # Audiences overlap: reach is at least the largest child's and strictly below the children's sum.
        reach_sum = cols[REACH]
        key = obj.key
        for j in range(n):
            if reach_count[j] > 1:
                overlap_pm = 550 + mix64(key ^ (first + j)) % 300
                reach_sum[j] = reach_max[j] + (reach_sum[j] - reach_max[j]) * overlap_pm // 1000
        return Series(first, tuple(array("q", col) for col in cols))

    # ---- restatement --------------------------------------------------------------------------------------------

    def restate(self) -> int:
        """Advance attribution: conversions of the last 28 days move up towards their final values."""
        self.restatement_version += 1
        self._keys_cache.clear()
        return self.restatement_version

    def _restated_days(self, object_id: str, version: int) -> dict[int, tuple[int, int, int]]:
        """(purchase, purchase value, lead) per day of the restatement window at a version; parents sum children."""
        cache_key = (object_id, version)
        cached = self._restated.get(cache_key)
        if cached is not None:
            return cached
        obj = self.nodes[object_id]
        result: dict[int, tuple[int, int, int]] = {}
        window_start = self.today - RESTATEMENT_DAYS
        if obj.kind == "ad":
            series = self.series(object_id)
            for day in range(max(window_start, series.first), series.last + 1):
                missing_pm = _MISSING_PM[self.today - day]
                values = []
                for col in RESTATED:
                    final = series.cols[col][day - series.first]
                    values.append(final - final * missing_pm // (1000 * (version + 1)))
                result[day] = (values[0], values[1], values[2])
        else:
            for child in obj.children:
                for day, (p, pv, lead) in self._restated_days(child, version).items():
                    q, qv, ql = result.get(day, (0, 0, 0))
                    result[day] = (p + q, pv + qv, lead + ql)
        self._restated[cache_key] = result
        return result

    # ---- totals over a period -----------------------------------------------------------------------------------

    def has_data(self, object_id: str, since: int, until: int) -> bool:
        series = self.series(object_id)
        lo, hi = max(since, series.first) - series.first, min(until, series.last) - series.first
        return lo <= hi and any(series.cols[IMP][lo : hi + 1])

    def totals(self, object_id: str, since: int, until: int, version: int) -> list[int] | None:
        """Column totals over [since, until] (date ordinals) at a restatement version; None without delivery."""
        series = self.series(object_id)
        lo, hi = max(since, series.first) - series.first, min(until, series.last) - series.first
        if lo > hi:
            return None
        values = [sum(col[lo : hi + 1]) for col in series.cols]
        if not values[IMP]:
            return None
        window_start = self.today - RESTATEMENT_DAYS
        if series.first + hi >= window_start:
            restated = self._restated_days(object_id, version)
            for day in range(max(since, window_start, series.first), min(until, series.last) + 1):
                now = restated.get(day)
                if now is None:
                    continue
                for position, col in enumerate(RESTATED):
                    values[col] += now[position] - series.cols[col][day - series.first]
        if hi > lo:
            # Reach over several days: the same people come back, so it is far below the sum of daily reach.
            daily = series.cols[REACH][lo : hi + 1]
            peak, total = max(daily), sum(daily)
            repeat_pm = 250 + mix64(self.nodes[object_id].key ^ (since << 20) ^ until) % 200
            values[REACH] = peak + (total - peak) * repeat_pm // 1000
        return values

    # ---- ground truth -------------------------------------------------------------------------------------------

    def ground_truth_insights(self, account_id: str, level: str, since: date, until: date) -> list[dict[str, Any]]:
        """Exact daily rows at the current restatement version for every object of a level, all statuses included.

        Values are typed: ints for counts, Decimals for money and ratios, actions and action_values as
        {action_type: Decimal}. Rows are ordered by object id, then date.
        """
        account = self.account(account_id)
        if account is None or level not in LEVELS:
            raise KeyError(f"no {level} insights for account {account_id}")
        rows = []
        objects = sorted(self.level_objects(account.account_id, level), key=lambda o: int(o.id))
        for obj in objects:
            for day in range(since.toordinal(), until.toordinal() + 1):
                values = self.totals(obj.id, day, day, self.restatement_version)
                if values is None:
                    continue
                row: dict[str, Any] = self._ids(obj)
                row["date_start"] = row["date_stop"] = date.fromordinal(day)
                row.update(_typed_metrics(values, account.conversion_profile))
                rows.append(row)
        return rows

    def _ids(self, obj: AdObject) -> dict[str, Any]:
        ids: dict[str, Any] = {"account_id": obj.account_id}
        if obj.kind == "campaign":
            ids["campaign_id"] = obj.id
        elif obj.kind in ("adset", "ad"):
            ids["campaign_id"] = obj.campaign_id
            ids["adset_id"] = obj.adset_id if obj.kind == "ad" else obj.id
            if obj.kind == "ad":
                ids["ad_id"] = obj.id
        return ids

    # ---- insights queries ---------------------------------------------------------------------------------------

    def insights_keys(self, query: InsightsQuery) -> list[tuple[int, int, int]]:
        """Row keys (period index, object index, breakdown combination index) in the order rows are served."""
        cached = self._keys_cache.get(query)
        if cached is not None:
            return cached
        combos = self._combos(query.breakdowns)
        keys: list[tuple[int, int, int]] = []
        for period, (since, until) in enumerate(query.buckets):
            for position, object_id in enumerate(query.object_ids):
                if not self.has_data(object_id, since, until):
                    continue
                if not combos:
                    keys.append((period, position, 0))
                    continue
                totals = self.totals(object_id, since, until, query.version)
                assert totals is not None
                for combo, values in enumerate(self._split(object_id, since, until, query.breakdowns, totals)):
                    if values[IMP]:
                        keys.append((period, position, combo))
        if len(self._keys_cache) > 64:
            self._keys_cache.clear()
        self._keys_cache[query] = keys
        return keys

    def insights_rows(self, query: InsightsQuery, keys: Sequence[tuple[int, int, int]]) -> list[dict[str, Any]]:
        """Graph-shaped insights rows (numeric strings) for the given keys."""
        combos = self._combos(query.breakdowns)
        account = self.accounts[query.account_id]
        rows = []
        for period, position, combo in keys:
            since, until = query.buckets[period]
            object_id = query.object_ids[position]
            values = self.totals(object_id, since, until, query.version)
            assert values is not None
            if combos:
                values = self._split(object_id, since, until, query.breakdowns, values)[combo]
            row = self._graph_row(query, account, self.nodes[object_id], since, until, values)
            if combos:
                row.update(zip(query.breakdowns, combos[combo], strict=True))
            rows.append(row)
        return rows

    @staticmethod
    def _combos(breakdowns: Sequence[str]) -> list[tuple[str, ...]]:
        if not breakdowns:
            return []
        return list(product(*(BREAKDOWN_VALUES[b] for b in breakdowns)))

    def _split(
        self, object_id: str, since: int, until: int, breakdowns: Sequence[str], values: list[int]
    ) -> list[list[int]]:
        """Deterministic breakdown rows whose additive metrics sum exactly to the unbroken row."""
        key = self.nodes[object_id].key ^ (since << 24) ^ (until << 4)
        weights = []
        for combo in product(*(range(len(BREAKDOWN_VALUES[b])) for b in breakdowns)):
            weight = 1
            for name, choice in zip(breakdowns, combo, strict=True):
                jitter = 700 + mix64(key ^ hash_text(name) ^ choice) % 600
                weight *= _BREAKDOWN_WEIGHTS[name][choice] * jitter
            weights.append(weight)
        total_weight = sum(weights)
        parts: list[list[int]] = [[0] * len(COLUMNS) for _ in weights]
        for col in range(len(COLUMNS)):
            shares = [values[col] * w // total_weight for w in weights]
            leftover = values[col] - sum(shares)
            # Largest weights take the remainder, one unit each, so the parts add up exactly.
            for index in sorted(range(len(weights)), key=lambda i: -weights[i])[:leftover]:
                shares[index] += 1
            for index, share in enumerate(shares):
                parts[index][col] = share
        for part in parts:
            part[REACH] = min(part[REACH], part[IMP])
            part[CLK] = min(part[CLK], part[IMP])
        return parts

    def _graph_row(
        self, query: InsightsQuery, account: AdAccount, obj: AdObject, since: int, until: int, values: list[int]
    ) -> dict[str, Any]:
        row: dict[str, Any] = {}
        wanted = set(query.fields)
        ids = self._ids(obj)
        row.update(ids)
        names = {"account_name": account.name}
        for kind in ("campaign", "adset", "ad"):
            if f"{kind}_id" in ids:
                names[f"{kind}_name"] = (obj if obj.kind == kind else self.parent(obj, kind)).name
        row.update({name: value for name, value in names.items() if name in wanted})
        if "account_currency" in wanted:
            row["account_currency"] = account.currency
        if "objective" in wanted and obj.objective:
            row["objective"] = obj.objective
        profile = account.conversion_profile
        metrics = _typed_metrics(values, profile)
        for name in ("impressions", "clicks", "spend", "reach", "frequency", "inline_link_clicks", "cpm", "cpc",
                     "ctr", "cpp", "inline_link_click_ctr", "cost_per_inline_link_click"):  # fmt: skip
            if name in wanted and name in metrics:
                row[name] = number_string(metrics[name])
        windows = query.windows
        seed = obj.key ^ (since << 24) ^ until
        if "actions" in wanted and metrics["actions"]:
            row["actions"] = _action_list(ACTION_TYPES[profile], values, windows, seed, as_money=False)
        if "action_values" in wanted and metrics["action_values"]:
            row["action_values"] = _action_list(VALUE_TYPES[profile], values, windows, seed, as_money=True)
        spend = metrics["spend"]
        if "cost_per_action_type" in wanted and spend:
            costs = [
                {"action_type": name, "value": number_string(ratio(spend, count))}
                for name, count in metrics["actions"].items()
                if count
            ]
            if costs:
                row["cost_per_action_type"] = costs
        for roas_field, roas_type in (("purchase_roas", "omni_purchase"),
                                      ("website_purchase_roas", "offsite_conversion.fb_pixel_purchase")):  # fmt: skip
            value = metrics["action_values"].get(roas_type)
            if roas_field in wanted and value and spend:
                row[roas_field] = [{"action_type": roas_type, "value": number_string(ratio(value, spend))}]
        row["date_start"] = date.fromordinal(since).isoformat()
        row["date_stop"] = date.fromordinal(until).isoformat()
        return row


def hash_text(text: str) -> int:
    """A stable 64-bit hash of a short text (Python's hash() is salted per process)."""
    value = 0
    for char in text.encode():
        value = mix64(value ^ char)
    return value


def _typed_metrics(values: list[int], profile: str) -> dict[str, Any]:
    impressions, clicks, link, reach = values[IMP], values[CLK], values[LINK], values[REACH]
    spend = money(values[SPEND])
    metrics: dict[str, Any] = {
        "impressions": impressions,
        "clicks": clicks,
        "inline_link_clicks": link,
        "spend": spend,
        "reach": reach,
        "frequency": ratio(impressions, reach) if reach else Decimal(0),
        "cpm": ratio(spend * 1000, impressions) if impressions else Decimal(0),
        "ctr": ratio(clicks * 100, impressions) if impressions else Decimal(0),
        "inline_link_click_ctr": ratio(link * 100, impressions) if impressions else Decimal(0),
        "actions": {name: Decimal(total) for name, cols, _ in ACTION_TYPES[profile] if (total := _sum(values, cols))},
        "action_values": {
            name: money(total) for name, cols, _ in VALUE_TYPES[profile] if (total := _sum(values, cols))
        },
        # what really happened, whatever the action types: every purchase (website and on Meta) and every lead
        "conversions": Decimal(values[PUR] + values[ONPUR] + values[LEAD]),
        "conversion_value": money(values[PVAL] + values[ONPVAL]),
    }
    if clicks:
        metrics["cpc"] = ratio(spend, clicks)
    if link:
        metrics["cost_per_inline_link_click"] = ratio(spend, link)
    if reach:
        metrics["cpp"] = ratio(spend * 1000, reach)
    return metrics


def attribution_split(value: int, view_through: bool, seed: int) -> dict[str, int]:
    """Per-window numbers consistent with the default: value = 7d_click + 1d_view, 1d <= 7d <= 28d click."""
    if not view_through:
        return {"1d_click": value, "7d_click": value, "28d_click": value, "1d_view": 0}
    h = mix64(seed)
    view = value * (80 + (h & 127)) // 1000
    click7 = value - view
    return {
        "1d_click": click7 * (700 + (h >> 8 & 255)) // 1000,
        "7d_click": click7,
        "28d_click": click7 + click7 * (50 + (h >> 16 & 127)) // 1000,
        "1d_view": view,
    }


def _sum(values: list[int], cols: tuple[int, ...]) -> int:
    return sum(values[col] for col in cols)


def _action_list(
    types: Iterable[tuple[str, tuple[int, ...], bool]],
    values: list[int],
    windows: Sequence[str],
    seed: int,
    *,
    as_money: bool,
) -> list[dict[str, str]]:
    fmt = (lambda v: number_string(money(v))) if as_money else str
    result = []
    for name, cols, view_through in types:
        value = _sum(values, cols)
        if not value:
            continue
        element = {"action_type": name, "value": fmt(value)}
        if windows:
            split = attribution_split(value, view_through, seed ^ cols[0])
            element.update({window: fmt(split[window]) for window in windows if window in split})
        result.append(element)
    return result
