drop trigger ad_accounts_delete_insights on ad_accounts;
drop function ad_accounts_delete_insights();
alter table insights_daily add constraint insights_daily_account_id_fkey
    foreign key (account_id) references ad_accounts (id) on delete cascade;
create index insights_daily_campaign_level_date_idx on insights_daily (campaign_id, level, date);
