"""Graph client tests need neither PostgreSQL nor Redis: the session stack is not started for them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True)
def clean_redis() -> Iterator[None]:
    # Overrides the suite-wide autouse fixture, which would start the embedded PostgreSQL and Redis.
    yield
