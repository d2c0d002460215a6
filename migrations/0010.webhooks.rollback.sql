drop table webhook_deliveries;
drop table webhook_events;
drop table webhooks;
