"""arq workers: `arq jobs.worker.WorkerSettings` or `adsvc worker`."""
