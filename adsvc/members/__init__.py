"""Who may see and act on an ad account: members with roles, managed by the account's owners."""
