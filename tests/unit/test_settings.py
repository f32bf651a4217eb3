"""Settings: defaults for the embedded topology, and a clear error naming each bad variable."""

from __future__ import annotations

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from madeinpk.auctions.bidding.rate_limit import NoBidRateLimit, bid_rate_limiter
from madeinpk.settings import Settings, SettingsError

PROD = {"DATABASE_URL": "postgresql://app@db.internal:5432/madeinpk", "SECRET_KEY": "x" * 32}


def test_embedded_defaults() -> None:
    settings = Settings.from_env({})
    assert settings.database.engine == "sqlite"
    assert settings.database.sqlite_path == Path("madeinpk.sqlite3")
    assert settings.embedded and settings.redis_url is None
    assert settings.debug is True
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.site_url == "http://127.0.0.1:8000"
    assert settings.smtp is None
    assert settings.cors_origins == ("http://localhost:5173", "http://localhost:3000")
    assert settings.payment_deadline_hours == 24
    assert settings.max_failed_payments == 3
    assert settings.platform_fee == Decimal("0.02")
    assert settings.bid_rate_limit == 10
    assert settings.max_image_pixels == 40_000_000
    assert (settings.login_failures_per_account, settings.login_failures_per_ip) == (5, 50)
    assert settings.login_failure_window == 900 and settings.redis_key_prefix == "madeinpk"
    assert (settings.metrics_allow, settings.metrics_token) == (("127.0.0.0/8", "::1/128"), None)
    assert settings.ending_soon_minutes == 60


def test_production_values() -> None:
    settings = Settings.from_env(
        {
            **PROD,
            "REDIS_URL": "redis://cache:6379/0",
            "SMTP_HOST": "smtp.example.com",
            "SMTP_PORT": "465",
            "SMTP_USE_TLS": "true",
            "CORS_ORIGINS": "https://madeinpk.pk, https://www.madeinpk.pk",
            "PLATFORM_FEE": "0.05",
            "PORT": "9000",
        }
    )
    assert settings.database.engine == "postgres" and settings.database.database_name == "madeinpk"
    assert not settings.embedded and settings.debug is False
    assert settings.smtp is not None and settings.smtp.port == 465 and settings.smtp.use_tls
    assert settings.cors_origins == ("https://madeinpk.pk", "https://www.madeinpk.pk")
    assert settings.platform_fee == Decimal("0.05")
    assert settings.port == 9000


PG = {"DATABASE_URL": "postgresql://postgres@primary:5432/madeinpk", "SECRET_KEY": "k" * 16}
REPLICA = "postgresql://postgres@replica:5432/madeinpk"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL: expected postgresql://"),
        ({"DATABASE_URL": "sqlite:///"}, "DATABASE_URL: sqlite URL needs a file path"),
        ({"DATABASE_URL": "postgresql://host-only"}, "DATABASE_URL: a PostgreSQL URL needs"),
        ({"DATABASE_URL": "postgresql://u@h/db"}, "SECRET_KEY: required when DEBUG is off"),
        ({**PROD, "SECRET_KEY": "short"}, "SECRET_KEY: must be at least 16 characters"),
        ({"PORT": "eighty"}, "PORT: expected a whole number, got 'eighty'"),
        ({"PORT": "70000"}, "PORT: must be between 1 and 65535, got 70000"),
        ({"DEBUG": "maybe"}, "DEBUG: expected true or false, got 'maybe'"),
        ({**PROD, "REDIS_URL": "http://cache"}, "REDIS_URL: expected redis://"),
        ({"PLATFORM_FEE": "two percent"}, "PLATFORM_FEE: expected a decimal number"),
        ({"PLATFORM_FEE": "1.5"}, "PLATFORM_FEE: must be from 0 up to"),
        ({"PLATFORM_FEE": "NaN"}, "PLATFORM_FEE: expected a finite number"),
        ({"PAYMENT_DEADLINE_HOURS": "0"}, "PAYMENT_DEADLINE_HOURS: must be between"),
        ({"MAX_FAILED_PAYMENTS": "-1"}, "MAX_FAILED_PAYMENTS: must be between"),
        ({"BID_RATE_LIMIT": "1.5"}, "BID_RATE_LIMIT: expected a whole number"),
        ({"BID_RATE_LIMIT": "-1"}, "BID_RATE_LIMIT: must be between 0"),
        ({"SMTP_HOST": "mail", "SMTP_PORT": "x"}, "SMTP_PORT: expected a whole number"),
        ({"SMTP_HOST": "mail", "SMTP_USE_TLS": "1", "SMTP_STARTTLS": "1"}, "choose one, not both"),
        ({"SITE_URL": "ftp://x"}, "SITE_URL: expected an http(s) URL"),
        ({"MAX_IMAGE_PIXELS": "200000000"}, "MAX_IMAGE_PIXELS: must be between 10000 and"),
        ({"LOGIN_FAILURES_PER_ACCOUNT": "0"}, "LOGIN_FAILURES_PER_ACCOUNT: must be between 1"),
        ({"LOGIN_FAILURES_PER_IP": "many"}, "LOGIN_FAILURES_PER_IP: expected a whole number"),
        ({"LOGIN_FAILURE_WINDOW": "-5"}, "LOGIN_FAILURE_WINDOW: must be between 1"),
        ({"ENDING_SOON_MINUTES": "-1"}, "ENDING_SOON_MINUTES: must be between 0 and 10080"),
        ({"ENDING_SOON_MINUTES": "10081"}, "ENDING_SOON_MINUTES: must be between 0 and 10080"),
        ({"ENDING_SOON_MINUTES": "1.5"}, "ENDING_SOON_MINUTES: expected a whole number"),
        (
            {"DATABASE_REPLICA_URLS": "postgresql://postgres@replica:5432/madeinpk"},
            "DATABASE_REPLICA_URLS: replicas need DATABASE_URL on PostgreSQL",
        ),
        (
            {**PG, "DATABASE_REPLICA_URLS": "sqlite:///replica.sqlite3"},
            "DATABASE_REPLICA_URLS: expected postgresql://",
        ),
        (
            {**PG, "DATABASE_REPLICA_URLS": "postgresql://postgres@replica:5432"},
            "DATABASE_REPLICA_URLS: a PostgreSQL URL needs a host and a database name",
        ),
        (
            {**PG, "DATABASE_REPLICA_URLS": f"{REPLICA},{REPLICA}"},
            "DATABASE_REPLICA_URLS: 'postgresql://postgres@replica:5432/madeinpk' is named twice",
        ),
        ({**PG, "DATABASE_REPLICA_MAX_LAG": "soon"}, "DATABASE_REPLICA_MAX_LAG: expected a"),
        ({**PG, "DATABASE_REPLICA_MAX_LAG": "0.5"}, "DATABASE_REPLICA_MAX_LAG: must be from"),
        ({**PG, "DATABASE_REPLICA_CHECK_INTERVAL": "0"}, "DATABASE_REPLICA_CHECK_INTERVAL: must"),
        ({**PROD, "REDIS_CLUSTER": "true"}, "REDIS_CLUSTER: needs REDIS_URL"),
        ({**PROD, "REDIS_CLUSTER": "sometimes"}, "REDIS_CLUSTER: expected true or false"),
        (
            {**PROD, "REDIS_CLUSTER": "true", "REDIS_URL": "redis://node1:7000/3"},
            "REDIS_CLUSTER: REDIS_URL must be redis://host:port (a cluster has only database 0",
        ),
    ],
)
def test_bad_values_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(env)
    assert message in str(error.value)


def test_replicas_are_read_from_a_comma_separated_list() -> None:
    second = REPLICA.replace("replica:", "replica-2:")
    replicas = Settings.from_env(
        {
            **PG,
            "DATABASE_REPLICA_URLS": f" {REPLICA} ,{second},",
            "DATABASE_REPLICA_MAX_LAG": "2.5",
            "DATABASE_REPLICA_CHECK_INTERVAL": "0.5",
        }
    ).replicas
    assert replicas.urls == (REPLICA, second)
    assert (replicas.max_lag, replicas.check_interval) == (2.5, 0.5)
    # Unset: no replica, and the production topology reads everything on the primary.
    assert Settings.from_env(PG).replicas.urls == ()


def test_redis_cluster_is_off_unless_asked_for() -> None:
    assert Settings.from_env({**PROD, "REDIS_URL": "redis://cache:6379/2"}).redis_cluster is False
    seed = {**PROD, "REDIS_URL": "redis://node1:7000", "REDIS_CLUSTER": "yes"}
    assert Settings.from_env(seed).redis_cluster is True


def test_empty_values_count_as_unset() -> None:
    assert Settings.from_env({"PORT": "", "REDIS_URL": "  "}).port == 8000


def test_cli_reports_a_bad_setting_clearly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "madeinpk", "migrate"],
        env={"PATH": "/usr/bin:/bin", "PORT": "eighty", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert result.returncode != 0
    assert "Bad setting: PORT: expected a whole number, got 'eighty'" in result.stderr
    assert "Traceback" not in result.stderr


async def test_a_bid_rate_limit_of_zero_turns_the_limit_off() -> None:
    settings = Settings.from_env({"BID_RATE_LIMIT": "0"})
    limiter = bid_rate_limiter("redis://127.0.0.1:6379/0", settings.bid_rate_limit, "unused")
    assert isinstance(limiter, NoBidRateLimit)  # no bucket, no round trip
    assert all([await limiter.allow(7) for _ in range(1_000)])
