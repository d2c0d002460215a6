-- An automation rule remembers the Idempotency-Key its creator sent (and a fingerprint of the request body), so a
-- retried create finds the rule instead of making a second one.
-- depends: 0012.automation-rules 0014.insights-ingest

alter table automation_rules add column idempotency_key text, add column request_fingerprint text;

create unique index automation_rules_idempotency_idx on automation_rules (created_by, idempotency_key)
    where idempotency_key is not null;
