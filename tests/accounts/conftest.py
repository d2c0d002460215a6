"""These tests run the app against the in-process sandbox as Meta (see helpers.settings)."""

from accounts.helpers import ensure_synced, fresh_account, settings, worker_env

__all__ = ["ensure_synced", "fresh_account", "settings", "worker_env"]
