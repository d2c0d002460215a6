"""arq workers, run by `adsvc worker` (jobs/runtime.py: arq's Worker with leases and outage handling)."""
