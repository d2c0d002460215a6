-- Campaigns, ad sets and ads as Meta last described them, every status included (archived and deleted too).
-- Budgets stay in Meta's minor units of the account currency.
-- depends: 0003.ad-accounts

create table campaigns (
    id text primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    name text not null,
    status text not null,
    effective_status text not null,
    objective text,
    buying_type text,
    bid_strategy text,
    daily_budget bigint,
    lifetime_budget bigint,
    start_time timestamptz,
    stop_time timestamptz,
    created_time timestamptz,
    updated_time timestamptz,
    synced_at timestamptz not null default now()
);

create index campaigns_account_idx on campaigns (account_id, id);
create index campaigns_account_status_idx on campaigns (account_id, effective_status);
create index campaigns_account_updated_idx on campaigns (account_id, updated_time desc);

create table adsets (
    id text primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    campaign_id text not null,
    name text not null,
    status text not null,
    effective_status text not null,
    optimization_goal text,
    billing_event text,
    bid_strategy text,
    daily_budget bigint,
    lifetime_budget bigint,
    start_time timestamptz,
    end_time timestamptz,
    created_time timestamptz,
    updated_time timestamptz,
    synced_at timestamptz not null default now()
);

create index adsets_campaign_idx on adsets (campaign_id);
create index adsets_account_idx on adsets (account_id);

create table ads (
    id text primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    campaign_id text not null,
    adset_id text not null,
    name text not null,
    status text not null,
    effective_status text not null,
    created_time timestamptz,
    updated_time timestamptz,
    synced_at timestamptz not null default now()
);

create index ads_adset_idx on ads (adset_id);
create index ads_campaign_idx on ads (campaign_id);
create index ads_account_idx on ads (account_id);
