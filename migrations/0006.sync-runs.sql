-- One row per collection run (structure, insights, backfill): progress, counts, Graph calls, duration and error.
-- depends: 0005.insights-daily

create table sync_runs (
    id bigint generated always as identity primary key,
    account_id text not null references ad_accounts (id) on delete cascade,
    kind text not null check (kind in ('structure', 'insights', 'backfill')),
    status text not null check (status in ('queued', 'running', 'succeeded', 'failed', 'rescheduled', 'abandoned')),
    job_id text,
    since date,
    until date,
    progress numeric(5, 4) not null default 0 check (progress between 0 and 1),
    rows_written bigint not null default 0,
    objects_written bigint not null default 0,
    graph_calls integer not null default 0,
    error_kind text,
    error text,
    created_at timestamptz not null default now(),
    started_at timestamptz,
    heartbeat_at timestamptz,
    finished_at timestamptz
);

create index sync_runs_account_idx on sync_runs (account_id, id desc);
create index sync_runs_running_idx on sync_runs (status) where status in ('queued', 'running');
