-- The campaign list's rows, ready to send: per campaign, its spend over the last 7 days and its list entry (the
-- CampaignOut JSON document, last_7d included) as of one day of its account's timezone, `as_of` (the window is
-- as_of - 7 .. as_of - 1, as the list defines it). adsvc.campaigns.queries.refresh_campaign_metrics writes them;
-- the triggers below delete a campaign's row whenever anything it was built from changes (its campaign-level
-- insights, the campaign, the account's currency), whoever writes. So a row whose as_of is the account's today is
-- exact, and the list computes any campaign without one live, as before.
--
-- A refresh holds the account's advisory lock 'campaign-metrics:<account id>' exclusively, writers take it shared
-- in these triggers: a refresh waits for writers in flight and reads what they committed; a writer that comes later
-- waits for the refresh to commit and then deletes what it wrote.
-- depends: 0011.actions

create table campaign_metrics_7d (
    campaign_id text primary key references campaigns (id) on delete cascade,
    account_id text not null,
    as_of date not null,
    spend numeric not null,
    doc text not null
);

create index campaign_metrics_7d_account_idx on campaign_metrics_7d (account_id);

create function campaign_metrics_7d_forget(account text, campaign text) returns void language plpgsql as $$
begin
    perform pg_advisory_xact_lock_shared(hashtextextended('campaign-metrics:' || account, 0));
    if campaign is null then
        delete from campaign_metrics_7d where account_id = account;
    else
        delete from campaign_metrics_7d where campaign_id = campaign;
    end if;
end
$$;

create function insights_daily_campaign_metrics() returns trigger language plpgsql as $$
begin
    if tg_op <> 'INSERT' and old.level = 'campaign' and old.campaign_id is not null then
        perform campaign_metrics_7d_forget(old.account_id, old.campaign_id);
    end if;
    if tg_op <> 'DELETE' and new.level = 'campaign' and new.campaign_id is not null then
        perform campaign_metrics_7d_forget(new.account_id, new.campaign_id);
    end if;
    return null;
end
$$;

-- only campaign-level rows are summed (WHEN keeps the ad-level bulk ingest free of any trigger call)
create trigger insights_daily_campaign_metrics_insert after insert on insights_daily
    for each row when (new.level = 'campaign') execute function insights_daily_campaign_metrics();
create trigger insights_daily_campaign_metrics_update after update on insights_daily
    for each row when (old.level = 'campaign' or new.level = 'campaign') execute function insights_daily_campaign_metrics();
create trigger insights_daily_campaign_metrics_delete after delete on insights_daily
    for each row when (old.level = 'campaign') execute function insights_daily_campaign_metrics();

create function campaigns_campaign_metrics() returns trigger language plpgsql as $$
begin
    perform campaign_metrics_7d_forget(old.account_id, old.id);
    if new.account_id is distinct from old.account_id then
        perform campaign_metrics_7d_forget(new.account_id, new.id);
    end if;
    return null;
end
$$;

create trigger campaigns_campaign_metrics after update on campaigns
    for each row execute function campaigns_campaign_metrics();

create function ad_accounts_campaign_metrics() returns trigger language plpgsql as $$
begin
    perform campaign_metrics_7d_forget(new.id, null);
    return null;
end
$$;

-- the currency is in every document; the timezone is not (a row only counts when as_of is the account's today)
create trigger ad_accounts_campaign_metrics after update of currency on ad_accounts
    for each row when (old.currency is distinct from new.currency) execute function ad_accounts_campaign_metrics();
