-- Actions: every change adsvc makes (or means to make) at Meta on one field of one object, with the value before and
-- after, so it can be audited and reverted. Lifecycle: planned -> applied or failed; applied -> reverted (by a newer
-- action whose reverts_action_id names it). The idempotency key makes a retried request find its first action
-- instead of writing to Meta twice. Budgets are minor units of the account currency, stored as text like statuses.
-- depends: 0010.webhooks

create table actions (
    id bigint generated always as identity primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    object_type text not null check (object_type in ('campaign', 'adset', 'ad')),
    object_id text not null,
    field text not null check (field in ('status', 'daily_budget')),
    before_value text,
    after_value text not null,
    currency text,
    status text not null default 'planned' check (status in ('planned', 'applied', 'failed', 'reverted')),
    source text not null check (source in ('suggestion', 'rule', 'manual', 'legacy')),
    source_id text,
    reason text,
    idempotency_key text not null unique,
    reverts_action_id bigint references actions (id) on delete set null,
    error text,
    requested_by bigint references users (id) on delete set null,
    created_at timestamptz not null default now(),
    applied_at timestamptz,
    reverted_at timestamptz
);

create index actions_account_idx on actions (account_id, id desc);
create index actions_object_idx on actions (object_id, field, created_at desc);
create index actions_source_idx on actions (source, source_id);
create index actions_reverts_idx on actions (reverts_action_id) where reverts_action_id is not null;
