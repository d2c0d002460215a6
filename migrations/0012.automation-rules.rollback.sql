drop table rule_cooldowns;
drop table rule_runs;
drop table automation_rules;
