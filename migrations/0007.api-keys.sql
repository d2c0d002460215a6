-- API keys for machine clients (BI exports): only a SHA-256 of the key is stored; the key is shown once.
-- depends: 0006.sync-runs

create table api_keys (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    name text not null,
    prefix text not null,
    key_hash bytea not null unique,
    created_at timestamptz not null default now(),
    last_used_at timestamptz,
    revoked_at timestamptz
);

create index api_keys_user_idx on api_keys (user_id);
