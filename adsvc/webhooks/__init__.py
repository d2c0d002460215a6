"""Outbound webhooks: subscriptions, signed deliveries retried by arq, and the alert rules that emit events."""
