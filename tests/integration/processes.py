"""Real processes a test owns: app servers, a private Redis, private PostgreSQL clusters.

Each one can be killed and started again on the same port, which is what the restart tests
need; the suite's shared Redis and PostgreSQL are never restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import redis

from tests.integration.conftest import free_port


class AppProcess:
    """``uvicorn --factory madeinpk.app:create_app`` in its own session, output to a file."""

    def __init__(self, env: dict[str, str], log: Path, *, log_level: str = "warning") -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.log = log
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "uvicorn",
                    "--factory",
                    "madeinpk.app:create_app",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--log-level",
                    self.log_level,
                ],
                env=self.env,
                stdout=output,
                stderr=output,
                start_new_session=True,
            )

    async def wait_until_up(self, path: str = "/health/live") -> None:
        async with httpx.AsyncClient(base_url=self.url) as http:
            for _ in range(1200):  # a minute: a busy machine imports slowly
                try:
                    if (await http.get(path)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                assert self.process is not None
                if self.process.poll() is not None:
                    break
                await asyncio.sleep(0.05)
        raise AssertionError(f"{self.url} did not start; see {self.log}:\n{self.output()[-3000:]}")

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    async def terminate(self, limit: float = 30) -> float:
        """SIGTERM and wait; returns the seconds the process took to exit. A process still
        alive after ``limit`` is killed and reported as a hang."""
        assert self.process is not None
        started = time.monotonic()
        os.killpg(self.process.pid, signal.SIGTERM)
        while self.process.poll() is None:
            if time.monotonic() - started > limit:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
                raise AssertionError(f"SIGTERM did not stop the app in {limit} s; see {self.log}")
            await asyncio.sleep(0.05)
        self.process = None
        return time.monotonic() - started

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
        self.process = None


def wait_for_redis(port: int, limit: float = 10) -> None:
    """Until the redis-server on ``port`` answers a PING."""
    client = redis.Redis(host="127.0.0.1", port=port)
    deadline = time.monotonic() + limit
    try:
        while True:
            try:
                client.ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)
    finally:
        client.close()


class RedisServer:
    """A private ``redis-server`` without persistence: a restart loses everything, as a
    crashed cache node does."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--daemonize",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_redis(self.port)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the clients, as a crash or an OOM kill."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(timeout=10)
            self.process = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port)


class PostgresCluster:
    """A throw-away PostgreSQL 15 cluster (Debian's ``pg_createcluster``), trusted on
    localhost, that a test may stop and restart; dropped at the end."""

    VERSION = "15"

    def __init__(self) -> None:
        self.name = f"madeinpk{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if shutil.which("pg_createcluster") is None or shutil.which("pg_ctlcluster") is None:
            return "needs Debian's pg_createcluster/pg_ctlcluster (postgresql-common)"
        if os.geteuid() != 0:
            return "pg_createcluster needs root here (it writes /etc/postgresql)"
        return None

    def _run(self, *args: str) -> None:
        subprocess.run(args, check=True, capture_output=True, timeout=120)

    def create(self) -> None:
        self._run(
            "pg_createcluster", self.VERSION, self.name, "-p", str(self.port), "--", "--auth=trust"
        )
        self.ctl("start")

    def ctl(self, action: str) -> None:
        """``start``, ``stop`` (fast: connections are terminated) or ``restart``."""
        self._run("pg_ctlcluster", self.VERSION, self.name, action)

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.VERSION, self.name],
            capture_output=True,
            timeout=120,
        )


class StreamingReplicaPair:
    """A throw-away PostgreSQL 15 primary and a hot-standby streaming replica of it, taken with
    ``pg_basebackup -R``: plain ``initdb``/``pg_ctl`` under a temporary directory, each on its own
    free port, run as the ``postgres`` user (``initdb`` refuses root). The replica can be stopped,
    started, and have its replay paused, as a lagging or dying standby would be."""

    BIN = Path("/usr/lib/postgresql/15/bin")

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="madeinpk-pg-"))
        self.primary_dir = self.root / "primary"
        self.replica_dir = self.root / "replica"
        self.primary_port = free_port()
        self.replica_port = free_port()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        if not (cls.BIN / "initdb").exists() or not (cls.BIN / "pg_basebackup").exists():
            return f"needs PostgreSQL 15's initdb and pg_basebackup in {cls.BIN}"
        if os.geteuid() != 0 and pwd.getpwuid(os.geteuid()).pw_name != "postgres":
            return "runs its servers as the postgres user: needs root or postgres"
        return None

    def url(self, port: int, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{port}/{database}"

    def _run(self, *args: str) -> None:
        command = [str(self.BIN / args[0]), *args[1:]]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        if result.returncode != 0:
            raise AssertionError(f"{args[0]} failed:\n{result.stdout}{result.stderr}")

    def create(self) -> None:
        """Primary up, base backup taken, replica up and streaming."""
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self._run("initdb", "-D", str(self.primary_dir), "-U", "postgres", "--auth=trust")
        with (self.primary_dir / "postgresql.conf").open("a") as conf:
            conf.write(
                "listen_addresses = '127.0.0.1'\n"
                f"unix_socket_directories = '{self.root}'\n"
                "fsync = off\nfull_page_writes = off\n"  # throw-away data: no need to survive
                "wal_level = replica\nmax_wal_senders = 5\n"
                f"port = {self.primary_port}\n"
            )
        self._ctl(self.primary_dir, "start")
        self._run(
            "pg_basebackup", "-R", "-D", str(self.replica_dir), "-h", "127.0.0.1",
            "-p", str(self.primary_port), "-U", "postgres", "--checkpoint=fast",
        )  # fmt: skip
        with (self.replica_dir / "postgresql.conf").open("a") as conf:
            conf.write(f"port = {self.replica_port}\nhot_standby = on\n")
        self.replica("start")

    def _ctl(self, data: Path, action: str) -> None:
        log = self.root / f"{data.name}.log"
        self._run("pg_ctl", "-D", str(data), "-l", str(log), "-m", "fast", "-w", action)

    def replica(self, action: str) -> None:
        """``start`` or ``stop`` (fast: its connections are terminated at once)."""
        self._ctl(self.replica_dir, action)

    def drop(self) -> None:
        for data in (self.replica_dir, self.primary_dir):
            if (data / "postmaster.pid").exists():
                with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
                    self._run("pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def cluster_port() -> int:
    """A free port a cluster node can take: at most 55535, with its bus port (+10000) free."""
    while True:
        port = free_port()
        if port > 55535:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10000))
            except OSError:
                continue
        return port


class RedisClusterNodes:
    """A private three-master Redis Cluster (``redis-server --cluster-enabled yes`` on free
    ports, joined by ``redis-cli --cluster create``), no replicas, no persistence. A node can
    be killed and started again on its port with its cluster config file: it comes back as the
    same node owning the same slots, with no data."""

    SIZE = 3

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.ports = [cluster_port() for _ in range(self.SIZE)]
        self.url = f"redis://127.0.0.1:{self.ports[0]}/0"
        self.processes: dict[int, subprocess.Popen[bytes]] = {}

    def start_node(self, port: int) -> None:
        assert port not in self.processes
        self.processes[port] = subprocess.Popen(
            [
                "redis-server",
                *("--port", str(port), "--bind", "127.0.0.1"),
                *("--cluster-enabled", "yes"),
                *("--cluster-config-file", str(self.directory / f"nodes-{port}.conf")),
                *("--cluster-node-timeout", "2000"),
                # No replicas: a master down must not stop the others serving their slots.
                *("--cluster-require-full-coverage", "no"),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
                *("--dir", str(self.directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for_redis(port)

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for port in self.ports:
            self.start_node(port)
        subprocess.run(
            [
                "redis-cli",
                "--cluster",
                "create",
                *(f"127.0.0.1:{port}" for port in self.ports),
                *("--cluster-replicas", "0", "--cluster-yes"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        self.wait_ok()

    def wait_ok(self, limit: float = 30) -> None:
        """Until every node says ``cluster_state:ok`` (all slots served, views agreed)."""
        deadline = time.monotonic() + limit
        while True:
            states = []
            for port in self.ports:
                client = redis.Redis(host="127.0.0.1", port=port)
                try:
                    states.append(client.cluster("INFO").get("cluster_state"))  # type: ignore[union-attr]
                except redis.RedisError:
                    states.append(None)
                finally:
                    client.close()
            if all(state == "ok" for state in states):
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"cluster not ok after {limit} s: {states}")
            time.sleep(0.05)

    def kill_node(self, port: int) -> None:
        """SIGKILL one master: its slots are unserved until it is back."""
        process = self.processes.pop(port)
        process.kill()
        process.wait(timeout=10)

    def port_of(self, key: str) -> int:
        """The port of the master that serves ``key``'s slot."""
        client = redis.RedisCluster(host="127.0.0.1", port=self.ports[0])
        try:
            node = client.get_node_from_key(key)
            return int(node.port)
        finally:
            client.close()

    def stop(self) -> None:
        for port in list(self.processes):
            self.kill_node(port)
