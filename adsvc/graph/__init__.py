"""Our own client for Meta's Graph (Marketing) API: HTTP, error classification, usage pacing and circuit breakers."""
