"""Suggestions: what to change in an ad account, why, and its lifecycle from open to applied or expired."""
