drop table ad_account_members;
drop table ad_accounts;
