-- Insights ingest writes less per row. The index on (campaign_id, level, date) served no query (campaign-level reads
-- use the partial index on (campaign_id, date), account-wide reads and the ingest's own DELETE the one on
-- (account_id, date, level)), yet every row of every level paid for it. The foreign key to ad_accounts cost a lookup
-- and a row lock per inserted row; the syncs only write accounts they hold, and deleting an account still deletes
-- its insights, by the trigger below instead of the cascade.
-- depends: 0013.campaign-metrics

drop index insights_daily_campaign_level_date_idx;

alter table insights_daily drop constraint insights_daily_account_id_fkey;

create function ad_accounts_delete_insights() returns trigger language plpgsql as $$
begin
    delete from insights_daily where account_id = old.id;
    return null;
end
$$;

create trigger ad_accounts_delete_insights after delete on ad_accounts
    for each row execute function ad_accounts_delete_insights();
