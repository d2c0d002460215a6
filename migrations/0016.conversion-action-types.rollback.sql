alter table ad_accounts drop column conversion_action_types;
