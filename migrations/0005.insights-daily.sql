-- Daily insights per level (account, campaign, adset, ad), one row per level + object + day in the account's
-- timezone. Money is numeric; actions and action_values keep Meta's action types as jsonb objects
-- ({"purchase": "3", ...}); conversions and conversion_value are the purchases and leads among them.
-- reach and frequency are stored per row and never summed across days or objects.
-- depends: 0004.ad-objects

create table insights_daily (
    level text not null check (level in ('account', 'campaign', 'adset', 'ad')),
    object_id text not null,
    date date not null,
    account_id text not null references ad_accounts (id) on delete cascade,
    campaign_id text,
    adset_id text,
    ad_id text,
    impressions bigint not null,
    clicks bigint not null,
    inline_link_clicks bigint not null,
    reach bigint,
    frequency numeric(12, 6),
    spend numeric(18, 4) not null,
    conversions numeric(18, 4) not null,
    conversion_value numeric(18, 4) not null,
    actions jsonb not null,
    action_values jsonb not null,
    fetched_at timestamptz not null default now(),
    primary key (level, object_id, date)
);

-- campaign + date for the campaign pages and lists (campaign-level rows only: the hot path), and every level's
-- rows of a campaign by date for breakdowns; account + date for dashboards and exports.
create index insights_daily_campaign_date_idx on insights_daily (campaign_id, date) where level = 'campaign';
create index insights_daily_campaign_level_date_idx on insights_daily (campaign_id, level, date);
create index insights_daily_account_date_idx on insights_daily (account_id, date, level);
