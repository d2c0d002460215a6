-- Which of Meta's action types are an account's conversions. null = the default precedence of
-- adsvc.collection.conversions (purchases: the first of omni_purchase, purchase, offsite_conversion.fb_pixel_purchase,
-- onsite_web_purchase; leads: lead, else on-Meta leads plus pixel leads), else exactly these types, added (the API
-- refuses overlapping ones). insights_daily.conversions and conversion_value are computed by that rule in Python, at
-- ingest and when the setting changes (adsvc.accounts.conversions); nothing in SQL repeats it.
-- Rows stored before this migration were counted as purchase + lead: the next sync rewrites the rows of its window
-- whose conversions differ, and `adsvc recount-conversions` recounts every stored row at once.
-- depends: 0015.rule-idempotency

alter table ad_accounts add column conversion_action_types text[]
    check (conversion_action_types is null or cardinality(conversion_action_types) between 1 and 20);
