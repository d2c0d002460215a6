alter table campaign_metrics_7d
    drop column impressions,
    drop column clicks,
    drop column conversions,
    drop column conversion_value;
