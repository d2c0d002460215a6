-- Outbound webhooks: subscriptions per user (one account or all of theirs), the events emitted (one row per event id,
-- so emitting twice is harmless) and one delivery per subscription and event with its attempts and last outcome.
-- The signing secret is stored encrypted (Fernet, TOKEN_ENCRYPTION_KEY) because we must sign with it: a hash won't do.
-- depends: 0007.api-keys

create table webhooks (
    id bigint generated always as identity primary key,
    user_id bigint not null references users (id) on delete cascade,
    -- null: every account the user is a member of at the time of each event
    account_id text references ad_accounts (id) on delete cascade,
    url text not null check (url ~ '^https?://'),
    events text[] not null check (cardinality(events) > 0),
    format text not null check (format in ('json', 'slack')),
    description text,
    secret_ciphertext bytea not null,
    active boolean not null default true,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

create index webhooks_user_idx on webhooks (user_id, id);
create index webhooks_active_events_idx on webhooks using gin (events) where active;

create table webhook_events (
    id text primary key,
    event text not null,
    account_id text references ad_accounts (id) on delete cascade,
    occurred_at timestamptz not null default now(),
    data jsonb not null
);

create index webhook_events_occurred_idx on webhook_events (occurred_at);

create table webhook_deliveries (
    id bigint generated always as identity primary key,
    webhook_id bigint not null references webhooks (id) on delete cascade,
    event_id text not null references webhook_events (id) on delete cascade,
    status text not null default 'pending' check (status in ('pending', 'retrying', 'delivered', 'failed')),
    attempts integer not null default 0,
    last_status_code integer,
    last_error text,
    created_at timestamptz not null default now(),
    last_attempt_at timestamptz,
    next_attempt_at timestamptz,
    finished_at timestamptz,
    unique (webhook_id, event_id)
);

create index webhook_deliveries_webhook_idx on webhook_deliveries (webhook_id, id desc);
create index webhook_deliveries_event_idx on webhook_deliveries (event_id);
