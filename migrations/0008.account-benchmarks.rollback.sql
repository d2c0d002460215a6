drop table account_benchmarks;
