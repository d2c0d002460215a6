"""Analytics tests run the app against the in-process sandbox as Meta (see accounts.helpers.settings)."""

from accounts.helpers import ensure_synced, settings, worker_env

__all__ = ["ensure_synced", "settings", "worker_env"]
