-- Meta ad accounts adsvc collects, their encrypted tokens, and which users may see them (with roles).
-- depends: 0002.audit-log

create table ad_accounts (
    id text primary key check (id ~ '^[0-9]+$'),
    name text not null,
    currency text not null check (currency ~ '^[A-Z]{3}$'),
    timezone_name text not null,
    timezone_offset_hours_utc numeric(5, 2),
    account_status integer,
    token_ciphertext bytea not null,
    token_status text not null default 'valid' check (token_status in ('valid', 'invalid', 'expired')),
    token_checked_at timestamptz,
    token_error text,
    connected_by bigint references users (id),
    connected_at timestamptz not null default now(),
    last_structure_sync_at timestamptz,
    last_insights_sync_at timestamptz,
    updated_at timestamptz not null default now()
);

create table ad_account_members (
    account_id text not null references ad_accounts (id) on delete cascade,
    user_id bigint not null references users (id) on delete cascade,
    role text not null check (role in ('owner', 'manager', 'analyst', 'viewer')),
    added_at timestamptz not null default now(),
    primary key (account_id, user_id)
);

create index ad_account_members_user_idx on ad_account_members (user_id);
