"""The ``madeinpk`` command: migrate, seed, serve, createsuperuser, health."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click
from piccolo.apps.user.tables import BaseUser

from madeinpk.accounts.passwords import password_problems
from madeinpk.accounts.tables import Role, UserProfile
from madeinpk.db.engines import build_engine, database_lifespan
from madeinpk.db.piccolo_app import MIGRATIONS_FOLDER
from madeinpk.redis_io.heartbeat import ROLES, ProcessRole, probe
from madeinpk.sample_data import database_is_empty, seed
from madeinpk.settings import Settings, SettingsError
from madeinpk.timestamps import utc_now

T = TypeVar("T")
PROJECT_ROOT = MIGRATIONS_FOLDER.parent
GRACEFUL_SHUTDOWN_SECONDS = 5
# uvicorn's protocol without the handshake's leftovers (memory per idle socket).
LEAN_WEBSOCKETS = "madeinpk.asgi.lean_websockets:LeanWebSocketProtocol"


def _settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as exc:
        raise click.ClickException(f"Bad setting: {exc}") from None


def _run(make: Callable[[Settings], Awaitable[T]]) -> T:
    settings = _settings()
    return asyncio.run(_with_database(settings, make))


async def _with_database(settings: Settings, make: Callable[[Settings], Awaitable[T]]) -> T:
    async with database_lifespan(build_engine(settings), settings):
        return await make(settings)


def run_migrations() -> None:
    """Apply every pending migration, through Piccolo's own runner and ``piccolo_conf.py``."""
    from piccolo.apps.migrations.commands.forwards import run_forwards

    _settings()  # fail on a bad setting before Piccolo imports the conf
    if str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))
    os.environ.setdefault("PICCOLO_CONF", "piccolo_conf")
    result = asyncio.run(run_forwards("all"))
    if not result.success:
        raise click.ClickException(f"Migrations failed: {result.message}")


@click.group()
def main() -> None:
    """MadeInPK Live: the real-time auction backend."""


@main.command()
def migrate() -> None:
    """Apply pending database migrations."""
    run_migrations()


async def _seed(settings: Settings, *, only_if_empty: bool) -> None:
    if only_if_empty and not await database_is_empty():
        click.echo("Database already has data; not seeding.")
        return
    report = await seed(settings)
    click.echo(
        "Sample data " + ("created." if report.created else "already present; nothing added.")
    )
    click.echo("Demo accounts (username / email / password):")
    for username, email, password in report.accounts:
        click.echo(f"  {username:<18} {email:<32} {password}")
    if report.buyer_token:
        click.echo(f"Ready buyer1 token: {report.buyer_token}")
        ws_url = settings.site_url.replace("http", "ws", 1)
        click.echo(f"  try: {ws_url}/ws/auction/1/?token={report.buyer_token}")


@main.command("seed")
def seed_command() -> None:
    """Load the demo data (idempotent: a second run adds nothing)."""
    _run(lambda settings: _seed(settings, only_if_empty=False))


@main.command()
@click.option(
    "--workers", default=1, show_default=True, help="App processes (needs REDIS_URL when > 1)."
)
@click.option("--reload", is_flag=True, help="Restart on code changes (development).")
def serve(workers: int, reload: bool) -> None:
    """Migrate, seed an empty database (debug only), and serve the API and WebSockets."""
    import uvicorn

    settings = _settings()
    if workers > 1 and settings.embedded:
        raise click.ClickException(
            "More than one app process needs REDIS_URL (and PostgreSQL): in-memory channels "
            "cannot reach watchers in other processes."
        )
    run_migrations()
    _reset_metrics_dir()
    if settings.debug:  # demo data belongs in development databases only
        _run(lambda s: _seed(s, only_if_empty=True))
    uvicorn.run(
        "madeinpk.app:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=workers,
        reload=reload,
        proxy_headers=True,
        ws_max_size=64 * 1024,  # the protocol's frames are tiny; refuse megabyte ones early
        # ~150-byte frames gain nothing from compression, which costs 36 KiB per socket and
        # CPU on every fan-out (measured in bench/ws_bench.py).
        ws_per_message_deflate=False,
        # SIGTERM: stop waiting for open requests and sockets after this long, then run the
        # lifespan shutdown (itself bounded), so a deploy never hangs on a dead backend.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        ws=LEAN_WEBSOCKETS,
    )


def _reset_metrics_dir() -> None:
    """prometheus-client's multi-process files outlive their processes; a new ``serve`` starts
    from an empty directory, before any app process writes to it."""
    directory = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)


async def _create_superuser(settings: Settings, username: str, email: str, password: str) -> None:
    if await BaseUser.exists().where(BaseUser.username == username):
        raise click.ClickException(f"A user named {username!r} already exists.")
    password_hash = await asyncio.to_thread(BaseUser.hash_password, password)
    user = BaseUser(
        username=username,
        email=email,
        password=password_hash,
        active=True,
        admin=True,
        superuser=True,
    )
    await user.save()
    await UserProfile.insert(UserProfile(user=user.id, role=Role.admin.value, created_at=utc_now()))
    click.echo(f"Superuser {username!r} created: it can sign in to /admin/.")


@main.command()
@click.option("--username", prompt=True)
@click.option("--email", prompt=True)
def createsuperuser(username: str, email: str) -> None:
    """Create a staff user for the admin panel."""
    password = os.environ.get("MADEINPK_SUPERUSER_PASSWORD") or getpass.getpass("Password: ")
    if problems := password_problems(password, username=username, email=email):
        raise click.ClickException(" ".join(problems))
    _run(lambda settings: _create_superuser(settings, username, email, password))


@main.command()
@click.argument("role", type=click.Choice(ROLES))
@click.option(
    "--local", is_flag=True, help="Only the processes on this host (a container's probe)."
)
def health(role: ProcessRole, local: bool) -> None:
    """Exit 0 if a ROLE process (worker or scheduler) is up, 1 if none is.

    Up: its heartbeat in Redis is fresh. A worker beats once it listens on the task queue, the
    scheduler once it has started; one stopped cleanly is gone at once, a crashed one within
    seconds. Needs REDIS_URL (embedded, both run inside the app process: ask its GET
    /health/ready). For a probe run every few seconds,
    ``python -m madeinpk.redis_io.heartbeat ROLE`` is the same check without loading
    the whole application.
    """
    up, report = probe(_settings(), role, local=local)
    click.echo(report, err=not up)
    if not up:
        sys.exit(1)


if __name__ == "__main__":
    main()
