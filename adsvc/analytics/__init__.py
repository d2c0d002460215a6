"""Analytics from stored insights: dashboard totals, performance scores, trends and anomalies."""
