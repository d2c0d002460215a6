drop table sync_runs;
