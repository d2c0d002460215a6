"""Authentication: passwords, tokens, revocation, login throttling and the auth API."""
