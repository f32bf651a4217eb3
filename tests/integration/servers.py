"""The app in a uvicorn process of its own (on the suite's database and services), for tests
that kill it or that need settings other than the suite's server has."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import httpx

from tests.integration.conftest import free_port


class WebServer:
    def __init__(self, env: dict[str, str], *uvicorn_args: str) -> None:
        self.uvicorn_args = uvicorn_args  # e.g. ``madeinpk serve``'s WebSocket protocol
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, **env, "PORT": str(self.port)}
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "--factory", "madeinpk.app:create_app",
             "--port", str(self.port), "--log-level", "warning", *self.uvicorn_args],
            env=self.env,
            start_new_session=True,
        )  # fmt: skip

    def kill(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
            self.process = None

    async def ready(self) -> None:
        async with httpx.AsyncClient(base_url=self.url) as http:
            for _ in range(300):
                try:
                    if (await http.get("/api/categories/")).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError("the web server did not start")
