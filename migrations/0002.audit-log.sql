-- The append-only audit log: one row per state change a person or a rule caused; never updated, never deleted.
-- depends: 0001.users

create table audit_log (
    id bigint generated always as identity primary key,
    occurred_at timestamptz not null default now(),
    actor_id bigint references users (id),
    actor_label text,
    action text not null,
    target_type text,
    target_id text,
    outcome text not null default 'success' check (outcome in ('success', 'failure')),
    before jsonb,
    after jsonb,
    details jsonb,
    client_addr text,
    request_id text
);

create index audit_log_occurred_at_idx on audit_log (occurred_at desc);
create index audit_log_actor_idx on audit_log (actor_id, occurred_at desc);
create index audit_log_target_idx on audit_log (target_type, target_id, occurred_at desc);

create function audit_log_refuse_change() returns trigger language plpgsql as $$
begin
    raise exception 'audit_log is append-only: % refused', tg_op using errcode = 'insufficient_privilege';
end;
$$;

create trigger audit_log_append_only
    before update or delete on audit_log
    for each row execute function audit_log_refuse_change();

create trigger audit_log_no_truncate
    before truncate on audit_log
    for each statement execute function audit_log_refuse_change();
