"""Login throttling over real HTTP: per account and address, per address, shared by every app
process through Redis on the production topology.

Each test speaks from its own made-up client address (``X-Forwarded-For``, which uvicorn trusts
from 127.0.0.1), so the budgets of one test never touch another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import uuid

import httpx
import pytest

from madeinpk.accounts.tables import AuthToken
from tests.conftest import LiveServer, free_port
from tests.factories import PASSWORD, UserHandle, make_user
from tests.test_multiprocess import start_app, wait_until_up

THROTTLED = re.compile(r"Request was throttled\. Expected available in (\d+) seconds?\.")


def new_address() -> dict[str, str]:
    octets = (random.randrange(256), random.randrange(256), random.randrange(1, 255))
    return {"X-Forwarded-For": "10.{}.{}.{}".format(*octets)}


async def login(
    client: httpx.AsyncClient, email: str, password: str, address: dict[str, str]
) -> httpx.Response:
    return await client.post(
        "/api/auth/login/", json={"email": email, "password": password}, headers=address
    )


def assert_throttled(response: httpx.Response, window: int) -> None:
    assert response.status_code == 429, response.text
    assert set(response.json()) == {"detail"}
    match = THROTTLED.fullmatch(response.json()["detail"])
    assert match is not None, response.json()
    assert response.headers["Retry-After"] == match[1]
    assert 0 < int(match[1]) <= window


@pytest.fixture
async def user(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings)


async def test_wrong_passwords_for_one_account_are_throttled(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    settings, address = live_server.settings, new_address()
    for _ in range(settings.login_failures_per_account):
        response = await login(client, user.email, "wrong-password-1", address)
        assert (response.status_code, response.json()) == (401, {"error": "Invalid credentials"})
    assert_throttled(await login(client, user.email, "wrong-password-1", address), 900)
    # Locked: even the right password waits (it is not checked), and no key is issued.
    tokens = await AuthToken.count()
    assert_throttled(await login(client, user.email.upper(), PASSWORD, address), 900)
    assert await AuthToken.count() == tokens
    # The owner, elsewhere, is not locked out by someone guessing at the account.
    assert (await login(client, user.email, PASSWORD, new_address())).status_code == 200


async def test_a_successful_login_starts_the_account_afresh(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    limit, address = live_server.settings.login_failures_per_account, new_address()
    for _ in range(limit - 1):
        assert (await login(client, user.email, "wrong-password-1", address)).status_code == 401
    assert (await login(client, user.email, PASSWORD, address)).status_code == 200
    for _ in range(limit):
        assert (await login(client, user.email, "wrong-password-1", address)).status_code == 401
    assert (await login(client, user.email, "wrong-password-1", address)).status_code == 429


async def test_requests_that_are_not_guesses_do_not_count(
    client: httpx.AsyncClient, live_server: LiveServer
) -> None:
    limit, address = live_server.settings.login_failures_per_account, new_address()
    blocked = await make_user(live_server.settings, is_blocked=True)
    for _ in range(limit + 2):
        blank = await login(client, blocked.email, "", address)
        assert blank.json() == {"password": ["This field may not be blank."]}
        refused = await login(client, blocked.email, PASSWORD, address)
        assert refused.json() == {"error": "Your account is blocked"}
    assert (await login(client, blocked.email, "wrong-password-1", address)).status_code == 401


async def test_parallel_guesses_cannot_exceed_the_budget(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    limit, address = live_server.settings.login_failures_per_account, new_address()
    responses = await asyncio.gather(
        *(login(client, user.email, f"wrong-password-{n}", address) for n in range(limit * 4))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [401] * limit + [429] * (limit * 3)


async def test_one_address_guessing_across_accounts_hits_the_address_budget(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    """Credential stuffing: one guess per account, many accounts, one address."""
    settings, address = live_server.settings, new_address()
    for n in range(settings.login_failures_per_ip):
        response = await login(
            client, f"nobody-{n}-{uuid.uuid4().hex[:6]}@example.com", "x", address
        )
        assert response.status_code == 401
    # Now the whole address waits, whoever signs in from it; other addresses do not.
    assert_throttled(await login(client, user.email, PASSWORD, address), 900)
    assert (await login(client, user.email, PASSWORD, new_address())).status_code == 200


async def test_successful_logins_do_not_spend_the_address_budget(
    client: httpx.AsyncClient, live_server: LiveServer, user: UserHandle
) -> None:
    """An office behind one NAT signs in all day without tripping the address budget."""
    address = new_address()
    for _ in range(live_server.settings.login_failures_per_ip + 5):
        assert (await login(client, user.email, PASSWORD, address)).status_code == 200


@pytest.mark.postgres_only
async def test_app_processes_share_the_budget_through_redis(
    client: httpx.AsyncClient, live_server: LiveServer, test_env: dict[str, str], user: UserHandle
) -> None:
    """Half the guesses to this app, half to another process: the budget is one."""
    assert live_server.settings.redis_url is not None
    port = free_port()
    other = start_app(test_env, port)
    try:
        await wait_until_up(f"http://127.0.0.1:{port}")
        limit, address = live_server.settings.login_failures_per_account, new_address()
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as second:
            for n in range(limit):
                app = client if n % 2 else second
                assert (
                    await login(app, user.email, "wrong-password-1", address)
                ).status_code == 401
            assert (await login(second, user.email, "wrong", address)).status_code == 429
            assert (await login(client, user.email, "wrong", address)).status_code == 429
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(other.pid, signal.SIGTERM)
        other.wait(timeout=30)
