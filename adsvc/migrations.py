"""Schema migrations with yoyo: applied by `adsvc migrate` (blocking, before any event loop), checked by /ready."""

from __future__ import annotations

from pathlib import Path


def yoyo_url(database_url: str) -> str:
    """yoyo picks its driver by scheme; `postgresql://` selects psycopg2, which understands every libpq URL."""
    for prefix in ("postgres://", "postgresql+asyncpg://"):
        if database_url.startswith(prefix):
            return "postgresql://" + database_url[len(prefix) :]
    return database_url


def known_migrations(migrations_dir: Path) -> tuple[str, ...]:
    """The ids yoyo gives the migration files: their names without `.sql`, rollbacks excluded."""
    return tuple(sorted(path.stem for path in migrations_dir.glob("*.sql") if not path.name.endswith(".rollback.sql")))


def apply_migrations(database_url: str, migrations_dir: Path) -> list[str]:
    """Apply every pending migration under yoyo's lock; returns the ids applied (none when already current)."""
    from yoyo import get_backend, read_migrations

    backend = get_backend(yoyo_url(database_url))
    migrations = read_migrations(str(migrations_dir))
    with backend.lock():
        pending = backend.to_apply(migrations)
        backend.apply_migrations(pending)
    return [migration.id for migration in pending]


def pending_migrations(known: tuple[str, ...], applied: set[str]) -> list[str]:
    return [migration_id for migration_id in known if migration_id not in applied]
