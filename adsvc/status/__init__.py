"""Operational endpoints: liveness, readiness, metrics and the status page."""
