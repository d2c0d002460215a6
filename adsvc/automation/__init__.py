"""Safe automation: planned, applied, audited and revertible changes to campaigns, ad sets and ads at Meta."""
