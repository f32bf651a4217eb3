"""What every benchmark shares: the throw-away database and its data, the server
processes, CPU and memory meters, percentiles, waiting for a quiet machine, cleanup."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import secrets
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

import uvloop

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"
PG_ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/15"
SECRET_KEY = "bench-secret-key-123456"
PRICE_IN_ERROR = re.compile(r"current price of ([0-9]+(?:\.[0-9]+)?)")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * q // 100))  # ceil
    return ordered[int(min(rank, len(ordered))) - 1]


def summary_ms(seconds: list[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    return {
        "n": len(ms),
        "p50_ms": _r(pct(ms, 50)),
        "p90_ms": _r(pct(ms, 90)),
        "p99_ms": _r(pct(ms, 99)),
        "max_ms": _r(max(ms) if ms else None),
        "mean_ms": _r(statistics.fmean(ms) if ms else None),
    }


def _r(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


class ProcStat(NamedTuple):
    """One process as ``/proc/<pid>/stat`` has it."""

    comm: str
    ppid: int
    pgrp: int
    ticks: int  # utime + stime


def proc_table() -> dict[int, ProcStat]:
    """pid -> (comm, ppid, pgrp, utime+stime ticks) for every process we can read."""
    table: dict[int, ProcStat] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        close = stat.rfind(")")
        comm = stat[stat.find("(") + 1 : close]
        fields = stat[close + 2 :].split()
        table[int(entry)] = ProcStat(
            comm, int(fields[1]), int(fields[2]), int(fields[11]) + int(fields[12])
        )
    return table


def system_ticks() -> list[int]:
    """The machine's cpu line: user nice system idle iowait irq softirq steal ..."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def descendants(root: int, table: dict[int, ProcStat] | None = None) -> list[int]:
    table = table or proc_table()
    children: dict[int, list[int]] = {}
    for pid, stat in table.items():
        children.setdefault(stat.ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def socket_fds(pid: int) -> int:
    count = 0
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:"):
                    count += 1
    except OSError:
        pass
    return count


def bystander(pid: int, comm: str) -> str:
    """The group of a process that is not one of those measured: this one, PostgreSQL, Redis or
    other."""
    if pid == os.getpid():
        return "bench"
    if comm.startswith("postgres"):
        return "postgres"
    if comm.startswith("redis"):
        return "redis"
    return "other"


class CpuMeter:
    """CPU seconds spent per process group over one phase (100% = one core busy)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.start_wall = 0.0
        self.start: dict[int, ProcStat] = {}
        self.start_total: list[int] = []

    def __enter__(self) -> CpuMeter:
        self.start_wall = time.perf_counter()
        self.start = proc_table()
        self.start_total = system_ticks()
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def report(self) -> dict[str, Any]:
        wall = time.perf_counter() - self.start_wall
        end = proc_table()
        server = set(descendants(self.server_pid, end)) | {self.server_pid}
        groups: Counter[str] = Counter()
        for pid, (comm, _, _, ticks) in end.items():
            before = self.start.get(pid)  # ticks survive exec (comm may change); new pids
            used = ticks - (before.ticks if before else 0)  # started within the phase
            if used <= 0:
                continue
            groups["server" if pid in server else bystander(pid, comm)] += used
        now = system_ticks()
        delta = [b - a for a, b in zip(self.start_total, now, strict=False)]
        all_ticks = max(1, sum(delta))
        busy = all_ticks - delta[3] - delta[4]
        names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
        return {
            "wall_s": round(wall, 2),
            "cpu_pct_of_one_core": {
                g: round(100 * t / CLK_TCK / wall, 1) for g, t in groups.most_common()
            },
            "machine_busy_pct": round(100 * busy / all_ticks, 1),
            "machine_pct": {
                n: round(100 * d / all_ticks, 1) for n, d in zip(names, delta, strict=False) if d
            },
        }


def get_ok(url: str) -> bool:
    """Whether a GET of ``url`` answers 200 (within 2 s)."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def base_env(db_url: str, scratch: Path, queue: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        DATABASE_URL=db_url,
        REDIS_URL=REDIS_URL,
        SECRET_KEY=SECRET_KEY,
        DEBUG="false",
        DATABASE_POOL_SIZE="20",
        BID_RATE_LIMIT="0",  # off: no Redis round trip per bid
        MAX_SOCKETS_PER_IP="0",  # every load-generator socket comes from 127.0.0.1
        TASK_QUEUE=queue,  # our own Redis stream for the outbid-email tasks; deleted at the end
        MEDIA_ROOT=str(scratch / "media"),
        PYTHONUNBUFFERED="1",
    )
    return env


@dataclass
class Fixture:
    auction_id: int
    seller: str
    bidders: list[tuple[str, str]]  # (username, token)
    more_auctions: tuple[int, ...] = ()  # ``create_data``'s ``more_auctions``, each its product


async def insert_users(names: list[str], password: str, now: datetime) -> dict[str, int]:
    """Users with their profiles, the first a seller, the others buyers (the seller's own
    profile is the caller's); ``password`` already hashed. Returns username -> id."""
    from piccolo.apps.user.tables import BaseUser

    from madeinpk.accounts.tables import Role, UserProfile

    users = [
        BaseUser(
            username=name,
            email=f"{name}@example.com",
            password=password,
            first_name="Bench",
            last_name="User",
            active=True,
            admin=False,
            superuser=False,
        )
        for name in names
    ]
    rows = await BaseUser.insert(*users).returning(BaseUser.id, BaseUser.username)
    ids = {row["username"]: row["id"] for row in rows}
    await UserProfile.insert(
        *[
            UserProfile(
                user=ids[name],
                role=(Role.seller if name == names[0] else Role.buyer).value,
                created_at=now,
            )
            for name in names
        ]
    )
    return ids


async def create_data(
    env: dict[str, str], n_buyers: int, auction_id: int, more_auctions: tuple[int, ...] = ()
) -> Fixture:
    """A seller, ``n_buyers`` buyers with tokens, and the auction ``auction_id`` (and each of
    ``more_auctions``) of a product of the seller's, active for two hours."""
    for key in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG"):
        if key in env:
            os.environ[key] = env[key]
        else:
            os.environ.pop(key, None)
    from piccolo.apps.user.tables import BaseUser

    from madeinpk.accounts.tables import SellerProfile
    from madeinpk.accounts.tokens import issue_token
    from madeinpk.catalog.tables import Category
    from madeinpk.db.engines import build_engine, database_lifespan
    from madeinpk.settings import Settings

    settings = Settings.from_env(env)
    async with database_lifespan(build_engine(settings), settings):
        password = BaseUser.hash_password("x" * 10)  # once: 600k PBKDF2 rounds is ~0.3 s
        now = datetime.now(UTC)
        tag = secrets.token_hex(3)
        names = [f"bench_seller_{tag}"] + [f"bench_buyer{i}_{tag}" for i in range(n_buyers)]
        ids = await insert_users(names, password, now)
        seller_id = ids[names[0]]
        await SellerProfile.insert(
            SellerProfile(
                user=seller_id,
                brand_name="Kashmiri Heritage Crafts",
                biography="Authentic Kashmiri handicrafts, direct from local artisans.",
                social_media_links="{}",
                is_verified=True,
                average_rating=Decimal("4.85"),
                total_feedbacks=127,
                created_at=now,
                updated_at=now,
            )
        )
        category = await Category.insert(Category(name=f"Textiles {tag}")).returning(Category.id)
        for auction in (auction_id, *more_auctions):
            await _insert_auction(seller_id, category[0]["id"], auction, now)
        buyer_names = names[1:]
        tokens = await asyncio.gather(*(issue_token(ids[n], settings) for n in buyer_names))
    return Fixture(auction_id, names[0], list(zip(buyer_names, tokens, strict=True)), more_auctions)


async def _insert_auction(seller_id: int, category_id: int, auction_id: int, now: datetime) -> None:
    from madeinpk.auctions.tables import Auction
    from madeinpk.catalog.tables import Product, ProductImage

    product = await Product.insert(
        Product(
            seller=seller_id,
            category=category_id,
            name="Handwoven Pashmina Shawl",
            description="Luxurious handwoven Pashmina shawl made from the finest Kashmiri "
            "wool, with intricate embroidery and traditional patterns.",
            condition="new",
            created_at=now,
            updated_at=now,
        )
    ).returning(Product.id)
    product_id = product[0]["id"]
    await ProductImage.insert(
        *[
            ProductImage(
                product=product_id,
                image=f"products/shawl_{i}.jpg",
                is_primary=i == 0,
                display_order=i,
            )
            for i in range(3)
        ]
    )
    await Auction.insert(
        Auction(
            id=auction_id,
            product=product_id,
            starting_price=Decimal("1000.00"),
            current_price=Decimal("1000.00"),
            bid_count=0,
            start_time=now - timedelta(hours=1),
            end_time=now + timedelta(hours=2),
            status="active",
            created_at=now,
            updated_at=now,
        )
    )


class Server:
    def __init__(
        self, env: dict[str, str], workers: int, log_path: Path, command: str | None = None
    ) -> None:
        self.env, self.workers, self.log_path = env, workers, log_path
        self.command = (
            shlex.split(command.replace("{workers}", str(workers)))
            if command
            else [sys.executable, "-m", "madeinpk", "serve", "--workers", str(workers)]
        )
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = int(env["PORT"])

    def start(self) -> None:
        self.log_file = open(self.log_path, "wb")  # closed in stop()
        self.proc = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    async def wait_ready(self, limit_s: float = 90.0) -> None:
        assert self.proc is not None
        url = f"http://127.0.0.1:{self.port}/api/categories/"
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}:\n{self.log_text()[-3000:]}"
                )
            started = self.log_text().count("Application startup complete")
            if started >= self.workers and await asyncio.to_thread(get_ok, url):
                return
            await asyncio.sleep(0.25)
        raise RuntimeError(f"server not ready after {limit_s}s:\n{self.log_text()[-3000:]}")

    def worker_pids(self) -> list[int]:
        """The app processes: uvicorn's children, or the server itself when it runs alone."""
        assert self.proc is not None
        return sorted(descendants(self.proc.pid)) or [self.proc.pid]

    @contextlib.contextmanager
    def profiled(self, path: str | None) -> Any:
        """py-spy raw stacks of each app process (and uvicorn's supervisor) to
        ``path.<pid>.txt`` while the block runs; nothing when ``path`` is None."""
        assert self.proc is not None
        pids = sorted({self.proc.pid, *self.worker_pids()}) if path else []
        spies = [
            subprocess.Popen(
                ["py-spy", "record", "--format", "raw", "--nonblocking", "--rate", "250",
                 "-o", f"{path}.{pid}.txt", "-p", str(pid)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )
            for pid in pids
        ]  # fmt: skip
        try:
            yield
        finally:
            for spy in spies:  # py-spy writes its file on SIGINT
                spy.send_signal(signal.SIGINT)
            for spy in spies:
                spy.wait()

    def workers_rss_kib(self) -> dict[int, int]:
        return {pid: rss_kib(pid) for pid in self.worker_pids()}

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        # Stragglers of the group (workers outliving the supervisor)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.log_file.close()


def scan_server_log(text: str) -> dict[str, Any]:
    lines = text.splitlines()
    interesting = [
        line
        for line in lines
        if re.search(
            r"Traceback|ERROR|CRITICAL|WARNING|Exception|never arrived|Late event"
            r"|Too slow|Task was destroyed|Unclosed|exception",
            line,
        )
    ]
    return {
        "lines": len(lines),
        "tracebacks": sum("Traceback" in line for line in lines),
        "suspicious_lines": len(interesting),
        "suspicious_samples": list(dict.fromkeys(interesting))[:15],
    }


def git_state() -> dict[str, Any]:
    """Which code was measured: src/ may be mid-edit while the benchmark runs."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(
                ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
            ).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return ""

    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "dirty_src": git("status", "--short", "--", "src", "piccolo_migrations").splitlines(),
    }


def raise_fd_limit() -> tuple[int, int]:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def machine_busy_pct(interval: float = 1.0) -> float:
    def read() -> tuple[int, int]:
        with open("/proc/stat") as f:
            parts = [int(x) for x in f.readline().split()[1:]]
        return sum(parts), parts[3] + parts[4]

    total0, idle0 = read()
    time.sleep(interval)
    total1, idle1 = read()
    return round(100 * (1 - (idle1 - idle0) / max(1, total1 - total0)), 1)


async def wait_quiet(limit: float) -> float:
    """Other work on this machine (a test run, a build) skews every figure: wait a little for
    it to finish, then go anyway and record how busy the machine was."""
    deadline = time.monotonic() + limit
    busy = await asyncio.to_thread(machine_busy_pct)
    while busy > 25 and time.monotonic() < deadline:
        log(f"machine {busy}% busy with other work; waiting (up to {limit:.0f} s)")
        await asyncio.sleep(4)
        busy = await asyncio.to_thread(machine_busy_pct)
    if busy > 25:
        log(f"warning: machine still {busy}% busy before the run; figures will suffer")
    return busy


async def cleanup_redis(queue: str) -> None:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{queue}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()


T = TypeVar("T")


def run_fast(coro: Coroutine[Any, Any, T]) -> T:
    """The load generator on uvloop (as the server is): the standard loop's per-socket cost
    would be measured instead of the server's."""
    return uvloop.run(coro)
