"""Fixtures of the webhook tests (defined in webhooks.helpers)."""

from webhooks.helpers import local_receivers, receiver, worker_env

__all__ = ["local_receivers", "receiver", "worker_env"]
