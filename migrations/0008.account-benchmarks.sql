-- Per-account benchmarks the performance score compares campaigns against; an account without a row uses the
-- older service's defaults (CTR 2.0 %, CPA 50 in the account currency, ROAS 2.5).
-- depends: 0007.api-keys

create table account_benchmarks (
    account_id text primary key references ad_accounts (id) on delete cascade,
    ctr_pct numeric(12, 6) not null check (ctr_pct > 0),
    cpa numeric(18, 4) not null check (cpa > 0),
    roas numeric(12, 6) not null check (roas > 0),
    updated_by bigint references users (id) on delete set null,
    updated_at timestamptz not null default now()
);
