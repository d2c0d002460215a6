"""Fixtures of the webhook tests (defined in webhooks.helpers)."""

from webhooks.helpers import receiver, worker_env

__all__ = ["receiver", "worker_env"]
