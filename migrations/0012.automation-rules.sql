-- Automation rules: a validated JSON spec per rule (scope, conditions, action, cooldown, schedule; its shape is
-- adsvc.automation.schemas.RuleSpec), their runs with what each decided per object, and the last time a rule acted
-- on each object (its cooldown). Deleting a rule keeps its history: deleted_at hides it and stops its schedule.
-- depends: 0011.actions

create table automation_rules (
    id bigint generated always as identity primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    name text not null check (length(name) between 1 and 200),
    enabled boolean not null default true,
    spec jsonb not null,
    version integer not null default 1,
    next_run_at timestamptz,
    last_run_at timestamptz,
    created_by bigint references users (id) on delete set null,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    deleted_at timestamptz
);

create index automation_rules_account_idx on automation_rules (account_id, id) where deleted_at is null;
create index automation_rules_due_idx on automation_rules (next_run_at) where enabled and deleted_at is null;

-- One row per evaluation that may act: run_key is unique, so a re-delivered scheduled job or a retried request
-- with the same Idempotency-Key finds its run instead of starting another.
create table rule_runs (
    id bigint generated always as identity primary key,
    rule_id bigint not null references automation_rules (id) on delete cascade,
    account_id text not null references ad_accounts (id) on delete cascade,
    run_key text not null unique,
    trigger text not null check (trigger in ('schedule', 'manual')),
    rule_version integer not null,
    status text not null default 'running' check (status in ('running', 'succeeded', 'partial', 'failed')),
    evaluated integer not null default 0,
    matched integer not null default 0,
    applied integer not null default 0,
    refused integer not null default 0,
    failed integer not null default 0,
    results jsonb not null default '[]',
    error text,
    requested_by bigint references users (id) on delete set null,
    started_at timestamptz not null default now(),
    finished_at timestamptz
);

create index rule_runs_rule_idx on rule_runs (rule_id, id desc);

create table rule_cooldowns (
    rule_id bigint not null references automation_rules (id) on delete cascade,
    object_id text not null,
    acted_at timestamptz not null,
    primary key (rule_id, object_id)
);
