"""Service configuration: one frozen Settings read from the environment once per process."""

from __future__ import annotations

import base64
import binascii
import dataclasses
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# Values that must never reach production as a signing key.
_KNOWN_UNSAFE_SECRETS = frozenset({"", "changeme", "change-me", "secret", "your-secret-key", "dev", "development"})
MIN_SECRET_LENGTH = 32
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_KEY_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class ConfigError(Exception):
    """A missing or unsafe setting; its message is one line meant for the operator."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from None


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _keys(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Parse `kid:secret,kid:secret` (previous JWT keys still accepted for verification)."""
    raw = env.get(name, "").strip()
    keys: dict[str, str] = {}
    if not raw:
        return keys
    for part in raw.split(","):
        kid, sep, secret = part.strip().partition(":")
        if not sep or not kid or not secret:
            raise ConfigError(f"{name} must look like kid:secret[,kid:secret], got an entry without both parts")
        keys[kid] = secret
    return keys


def _is_fernet_key(key: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(key.encode())) == 32
    except (ValueError, binascii.Error):
        return False


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `per_user` calls by one user and `per_account` on one ad account per window (0: no such limit)."""

    per_user: int
    per_account: int
    window_seconds: int

    def __str__(self) -> str:
        return f"{self.per_user},{self.per_account}/{self.window_seconds}"


def _rate_limit(env: Mapping[str, str], name: str, default: RateLimit) -> RateLimit:
    """`PER_USER,PER_ACCOUNT/WINDOW_SECONDS`, e.g. `6,12/60`."""
    raw = env.get(name, "").strip()
    if not raw:
        return default
    counts, sep, window = raw.replace(" ", "").partition("/")
    per_user, comma, per_account = counts.partition(",")
    try:
        limit = RateLimit(int(per_user), int(per_account), int(window))
    except ValueError:
        limit = None
    if not sep or not comma or limit is None or min(limit.per_user, limit.per_account) < 0 or limit.window_seconds < 1:
        raise ConfigError(f"{name} must look like PER_USER,PER_ACCOUNT/WINDOW_SECONDS (e.g. {default}), got {raw!r}")
    return limit


def _optional(env: Mapping[str, str], name: str) -> str | None:
    value = env.get(name, "").strip()
    return value or None


@dataclass(frozen=True, slots=True)
class Settings:
    database_url: str | None = field(default=None, repr=False)
    redis_url: str | None = field(default=None, repr=False)
    secret_key: str = field(default="", repr=False)
    jwt_key_id: str = "primary"
    jwt_previous_keys: Mapping[str, str] = field(default_factory=dict, repr=False)
    jwt_issuer: str = "adsvc"
    jwt_audience: str = "adsvc-api"
    jwt_expiration_minutes: int = 30
    redis_timeout_seconds: float = 0.5
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10
    db_timeout_seconds: float = 5.0
    login_max_failures_per_account: int = 5
    login_max_failures_per_address: int = 20
    login_throttle_window_seconds: int = 900
    trust_forwarded_for: bool = False
    # the pages' sessions: ended after this long without a request, and this long after sign-in whatever happens
    session_idle_minutes: int = 60
    session_absolute_hours: int = 12
    # behind a proxy that terminates TLS: believe its X-Forwarded-Proto (the session cookie is Secure over HTTPS)
    trust_forwarded_proto: bool = False
    argon2_time_cost: int = 3
    argon2_memory_cost_kib: int = 65536
    argon2_parallelism: int = 4
    password_min_length: int = 12
    password_hash_threads: int = 0
    max_body_bytes: int = 1024 * 1024
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: Path = Path(".adsvc")
    embedded: bool = False
    log_level: str = "INFO"
    token_encryption_key: str = field(default="", repr=False)
    token_encryption_previous_keys: tuple[str, ...] = field(default=(), repr=False)
    facebook_graph_url: str = "https://graph.facebook.com"
    facebook_app_id: str | None = None
    facebook_app_secret: str | None = field(default=None, repr=False)
    facebook_access_token: str | None = field(default=None, repr=False)
    facebook_ad_account_id: str | None = None
    agent_cache_ttl_seconds: int = 3600
    worker_agent_cache_ttl_seconds: int = 1800
    breaker_failure_threshold: int = 5
    breaker_recovery_seconds: float = 30.0
    graph_max_retries: int = 3
    graph_page_size: int = 500
    graph_poll_initial_seconds: float = 2.0
    graph_poll_max_seconds: float = 30.0
    graph_stuck_job_seconds: float = 300.0
    graph_job_timeout_seconds: float = 3600.0
    graph_pacing_time_scale: float = 1.0
    graph_max_pace_wait_seconds: float = 60.0
    insights_lookback_days: int = 28
    structure_sync_minutes: int = 30
    sync_lock_seconds: int = 120
    worker_lease_seconds: int = 90
    sync_retry_base_seconds: float = 10.0
    # expensive and amplifying calls, per user and per ad account (adsvc.ratelimit)
    throttle_backtests: RateLimit = RateLimit(6, 12, 60)
    throttle_previews: RateLimit = RateLimit(30, 60, 60)
    throttle_rule_runs: RateLimit = RateLimit(10, 20, 60)
    throttle_webhook_tests: RateLimit = RateLimit(5, 10, 60)
    throttle_reconnects: RateLimit = RateLimit(5, 5, 600)
    backtest_concurrency: int = 2
    backtest_queue_seconds: float = 10.0
    migrations_dir: Path = REPO_ROOT / "migrations"
    templates_dir: Path = REPO_ROOT / "templates"

    @property
    def credential_lifetime_seconds(self) -> int:
        """How long any credential issued now can stay valid: an access token or a page session. A per-user
        revocation must outlive it."""
        return max(self.jwt_expiration_minutes * 60, self.session_absolute_hours * 3600)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            database_url=_optional(env, "DATABASE_URL"),
            redis_url=_optional(env, "REDIS_URL"),
            secret_key=env.get("SECRET_KEY", ""),
            jwt_key_id=env.get("JWT_KEY_ID", "primary").strip() or "primary",
            jwt_previous_keys=_keys(env, "JWT_PREVIOUS_KEYS"),
            jwt_issuer=env.get("JWT_ISSUER", "adsvc"),
            jwt_audience=env.get("JWT_AUDIENCE", "adsvc-api"),
            jwt_expiration_minutes=_int(env, "JWT_EXPIRATION_MINUTES", 30),
            redis_timeout_seconds=_float(env, "REDIS_TIMEOUT_SECONDS", 0.5),
            db_pool_min_size=_int(env, "DB_POOL_MIN_SIZE", 2),
            db_pool_max_size=_int(env, "DB_POOL_MAX_SIZE", 10),
            db_timeout_seconds=_float(env, "DB_TIMEOUT_SECONDS", 5.0),
            login_max_failures_per_account=_int(env, "LOGIN_MAX_FAILURES_PER_ACCOUNT", 5),
            login_max_failures_per_address=_int(env, "LOGIN_MAX_FAILURES_PER_ADDRESS", 20),
            login_throttle_window_seconds=_int(env, "LOGIN_THROTTLE_WINDOW_SECONDS", 900),
            trust_forwarded_for=_bool(env, "TRUST_FORWARDED_FOR", False),
            session_idle_minutes=_int(env, "SESSION_IDLE_MINUTES", 60),
            session_absolute_hours=_int(env, "SESSION_ABSOLUTE_HOURS", 12),
            trust_forwarded_proto=_bool(env, "TRUST_FORWARDED_PROTO", False),
            argon2_time_cost=_int(env, "ARGON2_TIME_COST", 3),
            argon2_memory_cost_kib=_int(env, "ARGON2_MEMORY_COST_KIB", 65536),
            argon2_parallelism=_int(env, "ARGON2_PARALLELISM", 4),
            password_min_length=_int(env, "PASSWORD_MIN_LENGTH", 12),
            password_hash_threads=_int(env, "PASSWORD_HASH_THREADS", 0),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", 1024 * 1024),
            host=env.get("HOST", "127.0.0.1"),
            port=_int(env, "PORT", 8000),
            data_dir=Path(env.get("ADSVC_DATA_DIR", ".adsvc")),
            log_level=env.get("LOG_LEVEL", "INFO").upper(),
            embedded=_bool(env, "ADSVC_EMBEDDED", False),
            token_encryption_key=env.get("TOKEN_ENCRYPTION_KEY", "").strip(),
            token_encryption_previous_keys=tuple(
                key.strip() for key in env.get("TOKEN_ENCRYPTION_PREVIOUS_KEYS", "").split(",") if key.strip()
            ),
            facebook_graph_url=env.get("FACEBOOK_GRAPH_URL", "https://graph.facebook.com").rstrip("/"),
            facebook_app_id=_optional(env, "FACEBOOK_APP_ID"),
            facebook_app_secret=_optional(env, "FACEBOOK_APP_SECRET"),
            facebook_access_token=_optional(env, "FACEBOOK_ACCESS_TOKEN"),
            facebook_ad_account_id=_optional(env, "FACEBOOK_AD_ACCOUNT_ID"),
            agent_cache_ttl_seconds=_int(env, "AGENT_CACHE_TTL_SECONDS", 3600),
            worker_agent_cache_ttl_seconds=_int(env, "WORKER_AGENT_CACHE_TTL_SECONDS", 1800),
            breaker_failure_threshold=_int(env, "BREAKER_FAILURE_THRESHOLD", 5),
            breaker_recovery_seconds=_float(env, "BREAKER_RECOVERY_SECONDS", 30.0),
            graph_max_retries=_int(env, "GRAPH_MAX_RETRIES", 3),
            graph_page_size=_int(env, "GRAPH_PAGE_SIZE", 500),
            graph_poll_initial_seconds=_float(env, "GRAPH_POLL_INITIAL_SECONDS", 2.0),
            graph_poll_max_seconds=_float(env, "GRAPH_POLL_MAX_SECONDS", 30.0),
            graph_stuck_job_seconds=_float(env, "GRAPH_STUCK_JOB_SECONDS", 300.0),
            graph_job_timeout_seconds=_float(env, "GRAPH_JOB_TIMEOUT_SECONDS", 3600.0),
            graph_pacing_time_scale=_float(env, "GRAPH_PACING_TIME_SCALE", 1.0),
            graph_max_pace_wait_seconds=_float(env, "GRAPH_MAX_PACE_WAIT_SECONDS", 60.0),
            insights_lookback_days=_int(env, "INSIGHTS_LOOKBACK_DAYS", 28),
            structure_sync_minutes=_int(env, "STRUCTURE_SYNC_MINUTES", 30),
            sync_lock_seconds=_int(env, "SYNC_LOCK_SECONDS", 120),
            worker_lease_seconds=_int(env, "WORKER_LEASE_SECONDS", 90),
            sync_retry_base_seconds=_float(env, "SYNC_RETRY_BASE_SECONDS", 10.0),
            throttle_backtests=_rate_limit(env, "THROTTLE_BACKTESTS", RateLimit(6, 12, 60)),
            throttle_previews=_rate_limit(env, "THROTTLE_PREVIEWS", RateLimit(30, 60, 60)),
            throttle_rule_runs=_rate_limit(env, "THROTTLE_RULE_RUNS", RateLimit(10, 20, 60)),
            throttle_webhook_tests=_rate_limit(env, "THROTTLE_WEBHOOK_TESTS", RateLimit(5, 10, 60)),
            throttle_reconnects=_rate_limit(env, "THROTTLE_RECONNECTS", RateLimit(5, 5, 600)),
            backtest_concurrency=_int(env, "BACKTEST_CONCURRENCY", 2),
            backtest_queue_seconds=_float(env, "BACKTEST_QUEUE_SECONDS", 10.0),
        ).validated()

    def with_embedded(
        self, *, database_url: str, redis_url: str, secret_key: str, token_encryption_key: str
    ) -> Settings:
        """The same settings pointed at the embedded PostgreSQL and Redis of the data folder."""
        return dataclasses.replace(
            self,
            database_url=self.database_url or database_url,
            redis_url=self.redis_url or redis_url,
            secret_key=self.secret_key or secret_key,
            token_encryption_key=self.token_encryption_key or token_encryption_key,
            embedded=True,
        )

    @property
    def jwt_keys(self) -> dict[str, str]:
        """Every key accepted for verification by kid; the signing key wins a clash."""
        return {**self.jwt_previous_keys, self.jwt_key_id: self.secret_key}

    def validated(self) -> Settings:
        """These settings, once every value is known to be usable; else ConfigError naming the variable."""
        self.validate()
        return self

    def validate(self) -> None:
        """Every value in its range, whatever the deployment (secrets and servers are `check`'s)."""
        if self.database_url and not self.database_url.startswith(("postgresql://", "postgres://")):
            raise ConfigError("DATABASE_URL must be a postgresql:// URL (unset it for the embedded stack)")
        if self.redis_url and not self.redis_url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("REDIS_URL must be a redis://, rediss:// or unix:// URL (unset it for the embedded one)")
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"LOG_LEVEL must be one of {', '.join(LOG_LEVELS)}, got {self.log_level!r}")
        if not _KEY_ID.match(self.jwt_key_id):
            raise ConfigError("JWT_KEY_ID must be 1 to 64 letters, digits, '.', '_' or '-'")
        if not self.jwt_issuer.strip() or not self.jwt_audience.strip():
            raise ConfigError("JWT_ISSUER and JWT_AUDIENCE must not be empty")
        if not 1 <= self.jwt_expiration_minutes <= 24 * 60:
            raise ConfigError("JWT_EXPIRATION_MINUTES must be between 1 and 1440")
        if not 0 < self.redis_timeout_seconds <= 5:
            raise ConfigError("REDIS_TIMEOUT_SECONDS must be greater than 0 and at most 5")
        if self.db_pool_min_size < 0 or self.db_pool_max_size < max(1, self.db_pool_min_size):
            raise ConfigError("DB_POOL_MAX_SIZE must be at least 1 and not below DB_POOL_MIN_SIZE")
        _positive("DB_TIMEOUT_SECONDS", self.db_timeout_seconds)
        _at_least("LOGIN_MAX_FAILURES_PER_ACCOUNT", self.login_max_failures_per_account, 1)
        _at_least("LOGIN_MAX_FAILURES_PER_ADDRESS", self.login_max_failures_per_address, 1)
        _at_least("LOGIN_THROTTLE_WINDOW_SECONDS", self.login_throttle_window_seconds, 1)
        if not 1 <= self.session_idle_minutes <= 7 * 24 * 60:
            raise ConfigError("SESSION_IDLE_MINUTES must be between 1 and 10080")
        if not 1 <= self.session_absolute_hours <= 30 * 24:
            raise ConfigError("SESSION_ABSOLUTE_HOURS must be between 1 and 720")
        if self.session_idle_minutes > self.session_absolute_hours * 60:
            raise ConfigError("SESSION_IDLE_MINUTES must not exceed SESSION_ABSOLUTE_HOURS")
        _at_least("ARGON2_TIME_COST", self.argon2_time_cost, 1)
        _at_least("ARGON2_PARALLELISM", self.argon2_parallelism, 1)
        # argon2 itself refuses less than 8 KiB per lane
        _at_least("ARGON2_MEMORY_COST_KIB", self.argon2_memory_cost_kib, 8 * self.argon2_parallelism)
        if not 8 <= self.password_min_length <= 128:
            raise ConfigError("PASSWORD_MIN_LENGTH must be between 8 and 128")
        _at_least("PASSWORD_HASH_THREADS", self.password_hash_threads, 0)
        _at_least("MAX_BODY_BYTES", self.max_body_bytes, 1024)
        if not self.host.strip():
            raise ConfigError("HOST must not be empty")
        if not 1 <= self.port <= 65535:
            raise ConfigError(f"PORT must be between 1 and 65535, got {self.port}")
        if not str(self.data_dir).strip():
            raise ConfigError("ADSVC_DATA_DIR must not be empty")
        if not self.facebook_graph_url.startswith(("https://", "http://")):
            raise ConfigError("FACEBOOK_GRAPH_URL must be an http(s) URL")
        if self.facebook_app_id is not None and not self.facebook_app_id.isdigit():
            raise ConfigError("FACEBOOK_APP_ID must be the app's numeric id")
        if self.agent_cache_ttl_seconds < 1 or self.worker_agent_cache_ttl_seconds < 1:
            raise ConfigError("AGENT_CACHE_TTL_SECONDS and WORKER_AGENT_CACHE_TTL_SECONDS must be positive")
        _at_least("BREAKER_FAILURE_THRESHOLD", self.breaker_failure_threshold, 1)
        _positive("BREAKER_RECOVERY_SECONDS", self.breaker_recovery_seconds)
        if not 0 <= self.graph_max_retries <= 10:
            raise ConfigError("GRAPH_MAX_RETRIES must be between 0 and 10")
        if not 1 <= self.graph_page_size <= 5000:
            raise ConfigError("GRAPH_PAGE_SIZE must be between 1 and 5000")
        _positive("GRAPH_POLL_INITIAL_SECONDS", self.graph_poll_initial_seconds)
        if self.graph_poll_max_seconds < self.graph_poll_initial_seconds:
            raise ConfigError("GRAPH_POLL_MAX_SECONDS must not be below GRAPH_POLL_INITIAL_SECONDS")
        _positive("GRAPH_STUCK_JOB_SECONDS", self.graph_stuck_job_seconds)
        _positive("GRAPH_JOB_TIMEOUT_SECONDS", self.graph_job_timeout_seconds)
        if self.graph_pacing_time_scale < 0:
            raise ConfigError("GRAPH_PACING_TIME_SCALE must not be negative")
        _positive("GRAPH_MAX_PACE_WAIT_SECONDS", self.graph_max_pace_wait_seconds)
        if not 1 <= self.insights_lookback_days <= 90:
            raise ConfigError("INSIGHTS_LOOKBACK_DAYS must be between 1 and 90")
        if not 1 <= self.structure_sync_minutes <= 60:
            raise ConfigError("STRUCTURE_SYNC_MINUTES must be between 1 and 60")
        if not 3 <= self.sync_lock_seconds <= 3600:
            raise ConfigError("SYNC_LOCK_SECONDS must be between 3 and 3600")
        if not 5 <= self.worker_lease_seconds <= 600:
            raise ConfigError("WORKER_LEASE_SECONDS must be between 5 and 600")
        if not 1 <= self.backtest_concurrency <= 64:
            raise ConfigError("BACKTEST_CONCURRENCY must be between 1 and 64")
        if not 0 <= self.backtest_queue_seconds <= 300:
            raise ConfigError("BACKTEST_QUEUE_SECONDS must be between 0 and 300")
        _positive("SYNC_RETRY_BASE_SECONDS", self.sync_retry_base_seconds)

    def check(self) -> None:
        """Refuse to start with a missing or unsafe setting, in one clear line."""
        self.validate()
        if not self.database_url:
            raise ConfigError("DATABASE_URL is not set (unset both DATABASE_URL and REDIS_URL for the embedded stack)")
        if not self.redis_url:
            raise ConfigError("REDIS_URL is not set (unset both DATABASE_URL and REDIS_URL for the embedded stack)")
        if self.secret_key.strip().lower() in _KNOWN_UNSAFE_SECRETS:
            raise ConfigError("SECRET_KEY is missing or a known placeholder; set a random value of 32+ characters")
        if len(self.secret_key) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"SECRET_KEY is too short ({len(self.secret_key)} chars); use at least {MIN_SECRET_LENGTH}"
            )
        for kid, secret in self.jwt_previous_keys.items():
            if len(secret) < MIN_SECRET_LENGTH:
                raise ConfigError(f"JWT_PREVIOUS_KEYS entry {kid!r} is shorter than {MIN_SECRET_LENGTH} characters")
        for name, key in [("TOKEN_ENCRYPTION_KEY", self.token_encryption_key)] + [
            ("TOKEN_ENCRYPTION_PREVIOUS_KEYS", key) for key in self.token_encryption_previous_keys
        ]:
            if not _is_fernet_key(key):
                raise ConfigError(
                    f"{name} must be a Fernet key (urlsafe base64 of 32 bytes); generate one with "
                    "`python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'`"
                )


def _at_least(name: str, value: int, minimum: int) -> None:
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ConfigError(f"{name} must be greater than 0, got {value:g}")
