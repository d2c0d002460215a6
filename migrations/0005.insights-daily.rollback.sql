drop table insights_daily;
