"""One typed settings object, read from the environment once at startup.

Every value is checked here so that a typo in a deployment fails at boot with the variable's name,
not later inside a request.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

DEFAULT_DATABASE_URL = "sqlite:///madeinpk.sqlite3"
# The longest soft close an auction (or the ``SOFT_CLOSE_SECONDS`` default) may have: one source
# for this setting and the auction bodies (the settings are the kernel, below the auctions).
MAX_SOFT_CLOSE_SECONDS = 3600
MAX_ENDING_SOON_MINUTES = 7 * 24 * 60  # a week: auctions last at most 30 days
DEFAULT_CORS_ORIGINS = ("http://localhost:5173", "http://localhost:3000")
# Who may read /metrics by address, without METRICS_TOKEN: this host only. Not private networks:
# a balancer there that adds no forwarding header would make every request look private.
DEFAULT_METRICS_ALLOW = "127.0.0.0/8,::1/128"
LOG_FORMATS = ("text", "json")


class SettingsError(ValueError):
    """A bad environment value; the message names the variable."""


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    engine: Literal["sqlite", "postgres"]
    url: str
    sqlite_path: Path | None = None

    @classmethod
    def parse(cls, url: str, name: str = "DATABASE_URL") -> DatabaseConfig:
        """``name`` is the variable the URL came from, for the error messages."""
        if url.startswith("sqlite:///"):
            raw_path = url.removeprefix("sqlite:///")
            if not raw_path:
                raise SettingsError(f"{name}: sqlite URL needs a file path (sqlite:///file)")
            return cls(engine="sqlite", url=url, sqlite_path=Path(raw_path))
        scheme = url.split("://", 1)[0] if "://" in url else ""
        if scheme in ("postgresql", "postgres"):
            parts = urlsplit(url)
            if not parts.hostname or not parts.path.strip("/"):
                raise SettingsError(
                    f"{name}: a PostgreSQL URL needs a host and a database name "
                    "(postgresql://user@host:5432/dbname)"
                )
            return cls(engine="postgres", url=url)
        raise SettingsError(
            f"{name}: expected postgresql://… or sqlite:///path/file.sqlite3, got {url!r}"
        )

    @property
    def database_name(self) -> str:
        if self.engine == "sqlite":
            return str(self.sqlite_path)
        return urlsplit(self.url).path.strip("/")


@dataclass(frozen=True, slots=True)
class ReplicaConfig:
    """PostgreSQL streaming replicas for reads that tolerate staleness (``read_replicas``)."""

    urls: tuple[str, ...] = ()
    max_lag: float = 5.0  # seconds behind the primary past which a replica is skipped
    check_interval: float = 1.0  # seconds between two lag checks

    @classmethod
    def parse(cls, env: _Env, database: DatabaseConfig) -> ReplicaConfig:
        raw = env.optional("DATABASE_REPLICA_URLS")
        urls: list[str] = []
        for url in (u.strip() for u in (raw or "").split(",")):
            if not url:
                continue
            if DatabaseConfig.parse(url, "DATABASE_REPLICA_URLS").engine != "postgres":
                raise SettingsError(
                    f"DATABASE_REPLICA_URLS: expected postgresql://… URLs, got {url!r}"
                )
            if url in urls or url == database.url:
                raise SettingsError(f"DATABASE_REPLICA_URLS: {url!r} is named twice")
            urls.append(url)
        if urls and database.engine != "postgres":
            raise SettingsError("DATABASE_REPLICA_URLS: replicas need DATABASE_URL on PostgreSQL")
        max_lag = float(env.number("DATABASE_REPLICA_MAX_LAG", Decimal(5)))
        interval = float(env.number("DATABASE_REPLICA_CHECK_INTERVAL", Decimal(1)))
        if not 0.1 <= interval <= 60:
            raise SettingsError(
                f"DATABASE_REPLICA_CHECK_INTERVAL: must be from 0.1 to 60 seconds, got {interval}"
            )
        if not interval <= max_lag <= 3600:
            raise SettingsError(
                "DATABASE_REPLICA_MAX_LAG: must be from DATABASE_REPLICA_CHECK_INTERVAL "
                f"({interval}) to 3600 seconds, got {max_lag}"
            )
        return cls(urls=tuple(urls), max_lag=max_lag, check_interval=interval)


@dataclass(frozen=True, slots=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    use_tls: bool
    start_tls: bool
    timeout: float


@dataclass(frozen=True, slots=True)
class Settings:
    debug: bool
    secret_key: str
    database: DatabaseConfig
    database_pool_size: int
    host: str
    port: int
    site_url: str
    redis_url: str | None
    smtp: SmtpConfig | None
    mail_from: str
    media_root: Path
    cors_origins: tuple[str, ...]
    payment_deadline_hours: int
    max_failed_payments: int
    platform_fee: Decimal
    bid_rate_limit: int
    token_ttl_days: int
    task_queue: str
    max_image_pixels: int
    login_failures_per_account: int
    login_failures_per_ip: int
    login_failure_window: int  # seconds
    redis_key_prefix: str
    # Site-wide bid steps by price band, (from price, step), ascending; empty: one paisa.
    bid_increments: tuple[tuple[Decimal, Decimal], ...] = ()
    soft_close_seconds: int = 0  # the default for new auctions; 0 = off
    # How long after placing it a bidder may retract its bid (docs/auction-rules.md § 10); 0 = off.
    retract_seconds: int = 0
    log_format: str = "text"
    metrics_allow: tuple[str, ...] = ()  # normalised CIDR ranges (plain strings: DI-friendly)
    metrics_token: str | None = None
    max_sockets_per_ip: int = 200  # open sockets one client address may hold; 0 = no cap
    replicas: ReplicaConfig = ReplicaConfig()
    max_image_decodes: int = 2  # uploads decoded at once per process (~270 MB each at 40 MP)
    redis_cluster: bool = False  # REDIS_URL names one node of a Redis Cluster
    # With Redis: an auction's bids are decided by the process holding its lease for this long
    # (renewed while it has bids); 0: every process decides the bids it receives.
    bid_owner_lease_ms: int = 2000
    # Watchers and bidders are reminded this long before an auction's end; 0: no reminders.
    ending_soon_minutes: int = 60

    @property
    def channel_prefix(self) -> str:
        """Namespaces pub/sub channels (which ignore the Redis database number) per deployment."""
        return self.redis_key_prefix

    @property
    def embedded(self) -> bool:
        """No Redis: channels, the task broker and the scheduler all live in this process."""
        return self.redis_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Env(os.environ if environ is None else environ)
        database = DatabaseConfig.parse(env.text("DATABASE_URL", DEFAULT_DATABASE_URL))
        # The embedded default is the developer topology, so it is in debug unless told otherwise.
        debug = env.boolean("DEBUG", database.engine == "sqlite" and "REDIS_URL" not in env.raw)
        secret_key = env.text("SECRET_KEY", "")
        if not secret_key:
            if not debug:
                raise SettingsError("SECRET_KEY: required when DEBUG is off")
            secret_key = "insecure-development-key"
        elif len(secret_key) < 16:
            raise SettingsError("SECRET_KEY: must be at least 16 characters")
        host = env.text("HOST", "127.0.0.1")
        port = env.integer("PORT", 8000, minimum=1, maximum=65535)
        redis_url = env.optional("REDIS_URL")
        if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise SettingsError(f"REDIS_URL: expected redis://host:port/db, got {redis_url!r}")
        redis_cluster = env.boolean("REDIS_CLUSTER", False)
        if redis_cluster:
            if redis_url is None:
                raise SettingsError("REDIS_CLUSTER: needs REDIS_URL naming one node of the cluster")
            parts = urlsplit(redis_url)
            if parts.scheme == "unix" or parts.path.strip("/") not in ("", "0"):
                raise SettingsError(
                    "REDIS_CLUSTER: REDIS_URL must be redis://host:port (a cluster has only "
                    f"database 0 and no unix sockets), got {redis_url!r}"
                )
        site_url = env.text("SITE_URL", f"http://{host}:{port}").rstrip("/")
        if urlsplit(site_url).scheme not in ("http", "https"):
            raise SettingsError(f"SITE_URL: expected an http(s) URL, got {site_url!r}")
        smtp_host = env.optional("SMTP_HOST")
        smtp = None
        if smtp_host is not None:
            smtp = SmtpConfig(
                host=smtp_host,
                port=env.integer("SMTP_PORT", 587, minimum=1, maximum=65535),
                username=env.optional("SMTP_USERNAME"),
                password=env.optional("SMTP_PASSWORD"),
                use_tls=env.boolean("SMTP_USE_TLS", False),
                start_tls=env.boolean("SMTP_STARTTLS", False),
                timeout=float(env.integer("SMTP_TIMEOUT", 10, minimum=1, maximum=300)),
            )
            if smtp.use_tls and smtp.start_tls:
                raise SettingsError("SMTP_USE_TLS and SMTP_STARTTLS: choose one, not both")
        platform_fee = env.number("PLATFORM_FEE", Decimal("0.02"))
        if not Decimal(0) <= platform_fee < Decimal(1):
            raise SettingsError(
                f"PLATFORM_FEE: must be from 0 up to (not including) 1, got {platform_fee}"
            )
        cors = env.optional("CORS_ORIGINS")
        cors_origins = (
            tuple(o.strip() for o in cors.split(",") if o.strip()) if cors else DEFAULT_CORS_ORIGINS
        )
        return cls(
            debug=debug,
            secret_key=secret_key,
            database=database,
            database_pool_size=env.integer("DATABASE_POOL_SIZE", 10, minimum=1, maximum=500),
            host=host,
            port=port,
            site_url=site_url,
            redis_url=redis_url,
            smtp=smtp,
            mail_from=env.text("MAIL_FROM", "MadeInPK <no-reply@madeinpk.pk>"),
            media_root=Path(env.text("MEDIA_ROOT", "media")),
            cors_origins=cors_origins,
            payment_deadline_hours=env.integer(
                "PAYMENT_DEADLINE_HOURS", 24, minimum=1, maximum=24 * 30
            ),
            max_failed_payments=env.integer("MAX_FAILED_PAYMENTS", 3, minimum=1, maximum=100),
            platform_fee=platform_fee,
            bid_rate_limit=env.integer("BID_RATE_LIMIT", 10, minimum=0, maximum=1_000_000),
            token_ttl_days=env.integer("TOKEN_TTL_DAYS", 30, minimum=1, maximum=3650),
            task_queue=env.text("TASK_QUEUE", "madeinpk"),
            # Pillow itself refuses images past ~179 megapixels (its decompression-bomb guard).
            max_image_pixels=env.integer(
                "MAX_IMAGE_PIXELS", 40_000_000, minimum=10_000, maximum=150_000_000
            ),
            max_image_decodes=env.integer("MAX_IMAGE_DECODES", 2, minimum=1, maximum=64),
            login_failures_per_account=env.integer(
                "LOGIN_FAILURES_PER_ACCOUNT", 5, minimum=1, maximum=1000
            ),
            login_failures_per_ip=env.integer(
                "LOGIN_FAILURES_PER_IP", 50, minimum=1, maximum=1_000_000
            ),
            login_failure_window=env.integer(
                "LOGIN_FAILURE_WINDOW", 900, minimum=1, maximum=7 * 24 * 3600
            ),
            # Deployments sharing a Redis stay apart: counters, channels (queue: TASK_QUEUE).
            redis_key_prefix=env.text("REDIS_KEY_PREFIX", env.text("TASK_QUEUE", "madeinpk")),
            bid_increments=_increments(env.optional("BID_INCREMENTS")),
            soft_close_seconds=env.integer(
                "SOFT_CLOSE_SECONDS", 0, minimum=0, maximum=MAX_SOFT_CLOSE_SECONDS
            ),
            retract_seconds=env.integer("RETRACT_SECONDS", 0, minimum=0, maximum=86_400),
            log_format=_log_format(env),
            metrics_allow=_networks(env, "METRICS_ALLOW", DEFAULT_METRICS_ALLOW),
            metrics_token=_metrics_token(env),
            max_sockets_per_ip=env.integer(
                "MAX_SOCKETS_PER_IP", 200, minimum=0, maximum=10_000_000
            ),
            replicas=ReplicaConfig.parse(env, database),
            redis_cluster=redis_cluster,
            bid_owner_lease_ms=env.integer("BID_OWNER_LEASE_MS", 2000, minimum=0, maximum=60_000),
            ending_soon_minutes=env.integer(
                "ENDING_SOON_MINUTES", 60, minimum=0, maximum=MAX_ENDING_SOON_MINUTES
            ),
        )


def _increments(raw: str | None) -> tuple[tuple[Decimal, Decimal], ...]:
    """``BID_INCREMENTS``: ``FROM:STEP`` pairs, e.g. ``0:10,1000:50,5000:100``."""
    if raw is None:
        return ()
    bands = []
    for pair in raw.split(","):
        start, sep, step = pair.strip().partition(":")
        try:
            band = (Decimal(start), Decimal(step))
        except InvalidOperation:
            band = None
        if not sep or band is None or not band[0].is_finite() or not band[1].is_finite():
            raise SettingsError(f"BID_INCREMENTS: expected FROM:STEP pairs, got {pair.strip()!r}")
        if band[0] < 0 or band[1] <= 0 or band != tuple(v.quantize(Decimal("0.01")) for v in band):
            raise SettingsError(
                f"BID_INCREMENTS: {pair.strip()!r}: FROM must be >= 0 and STEP > 0, in paisa"
            )
        bands.append(band)
    if [b[0] for b in bands] != sorted({b[0] for b in bands}):
        raise SettingsError("BID_INCREMENTS: bands must be in increasing order of FROM")
    return tuple(bands)


def _log_format(env: _Env) -> str:
    value = env.text("LOG_FORMAT", "text").lower()
    if value not in LOG_FORMATS:
        raise SettingsError(f"LOG_FORMAT: expected text or json, got {value!r}")
    return value


def _networks(env: _Env, name: str, default: str) -> tuple[str, ...]:
    """Comma-separated addresses or CIDR ranges; ``none`` for no address at all."""
    raw = env.text(name, default)
    if raw.lower() == "none":
        return ()
    try:
        return tuple(
            ipaddress.ip_network(p.strip()).with_prefixlen for p in raw.split(",") if p.strip()
        )
    except ValueError as exc:
        raise SettingsError(f"{name}: expected addresses or CIDR ranges, {exc}") from None


def _metrics_token(env: _Env) -> str | None:
    token = env.optional("METRICS_TOKEN")
    if token is not None and len(token) < 16:
        raise SettingsError("METRICS_TOKEN: must be at least 16 characters")
    return token


class _Env:
    """Typed reads of environment variables; empty strings count as unset."""

    _TRUE = frozenset({"1", "true", "yes", "on"})
    _FALSE = frozenset({"0", "false", "no", "off"})

    def __init__(self, raw: Mapping[str, str]) -> None:
        self.raw = {k: v for k, v in raw.items() if v.strip() != ""}

    def optional(self, name: str) -> str | None:
        value = self.raw.get(name)
        return value.strip() if value is not None else None

    def text(self, name: str, default: str) -> str:
        value = self.optional(name)
        return default if value is None else value

    def integer(self, name: str, default: int, *, minimum: int, maximum: int) -> int:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            raise SettingsError(f"{name}: expected a whole number, got {value!r}") from None
        if not minimum <= number <= maximum:
            raise SettingsError(f"{name}: must be between {minimum} and {maximum}, got {number}")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.optional(name)
        if value is None:
            return default
        if value.lower() in self._TRUE:
            return True
        if value.lower() in self._FALSE:
            return False
        raise SettingsError(f"{name}: expected true or false, got {value!r}")

    def number(self, name: str, default: Decimal) -> Decimal:
        value = self.optional(name)
        if value is None:
            return default
        try:
            number = Decimal(value)
        except InvalidOperation:
            raise SettingsError(f"{name}: expected a decimal number, got {value!r}") from None
        if not number.is_finite():
            raise SettingsError(f"{name}: expected a finite number, got {value!r}")
        return number
