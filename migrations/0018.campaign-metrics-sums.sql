-- The stored campaign list entries (0013) keep every 7-day sum the list sorts by, not only spend: sorting by
-- impressions, clicks, conversions, conversion value or a ratio of them reads the stored row like sorting by spend.
-- The rows are a cache the list can do without (it computes a campaign without one live): they are dropped here and
-- rebuilt by the next sync or the quarter-hourly refresh.
-- depends: 0017.user-locale

delete from campaign_metrics_7d;

alter table campaign_metrics_7d
    add column impressions bigint not null,
    add column clicks bigint not null,
    add column conversions numeric not null,
    add column conversion_value numeric not null;
