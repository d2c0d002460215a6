-- Suggestions: changes the engine proposes for an object (a campaign, or an account for a reallocation plan), with
-- the rationale, the evidence numbers and the period they come from. Lifecycle: open -> accepted or dismissed;
-- accepted -> applied or expired; open -> expired when its condition stops holding or it outlives expires_at.
-- At most one OPEN suggestion per object and kind (the partial unique index the generator upserts against).
-- depends: 0007.api-keys

create table suggestions (
    id bigint generated always as identity primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    object_type text not null check (object_type in ('account', 'campaign', 'adset', 'ad')),
    object_id text not null,
    kind text not null check (kind in ('pause_underperformer', 'raise_budget', 'lower_budget', 'reallocation',
                                       'creative_fatigue')),
    status text not null default 'open' check (status in ('open', 'accepted', 'dismissed', 'applied', 'expired')),
    rationale text not null,
    evidence jsonb not null,
    proposal jsonb not null,
    period_since date not null,
    period_until date not null check (period_until >= period_since),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    decided_by bigint references users (id) on delete set null,
    decided_at timestamptz,
    expires_at timestamptz
);

create unique index suggestions_one_open_idx on suggestions (object_type, object_id, kind) where status = 'open';
create index suggestions_account_idx on suggestions (account_id, id desc);
create index suggestions_account_status_idx on suggestions (account_id, status, id desc);
create index suggestions_object_kind_idx on suggestions (object_type, object_id, kind, updated_at desc);
