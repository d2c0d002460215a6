drop index automation_rules_idempotency_idx;
alter table automation_rules drop column request_fingerprint, drop column idempotency_key;
