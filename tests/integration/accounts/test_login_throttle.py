"""Login throttling over real HTTP: per account and address, per address, shared by every app
process through Redis on the production topology, for the API login and the staff login
(``/admin/``) alike.

Each test speaks from its own made-up client address (``X-Forwarded-For``, which uvicorn trusts
from 127.0.0.1), so the budgets of one test never touch another's.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import uuid

import httpx
import pytest
from piccolo_api.session_auth.tables import SessionsBase

from madeinpk.accounts.tables import AuthToken
from tests.integration.conftest import LiveServer, free_port
from tests.integration.factories import PASSWORD, UserHandle, make_user
from tests.integration.test_multiprocess import start_app, wait_until_up

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


# --- the staff login (/admin/): the same throttle, the same budgets ------------------------------


class StaffBrowser:
    """The admin's login page in a browser: its CSRF cookie, echoed in the header, from one
    client address."""

    def __init__(self, base_url: str, address: dict[str, str]) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, headers=address)

    async def __aenter__(self) -> StaffBrowser:
        await self.http.get("/admin/")
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.aclose()

    async def login(self, username: str, password: str, csrf: bool = True) -> httpx.Response:
        return await self.post(credentials(username, password), csrf)

    async def post(self, body: bytes, csrf: bool = True) -> httpx.Response:
        token = self.http.cookies.get("csrftoken", "") if csrf else ""
        self.http.cookies.delete("id")  # each attempt from a signed-out page
        headers = {"Content-Type": "application/json"}
        return await self.http.post(
            "/admin/public/login/",
            content=body,
            headers={**headers, "X-CSRFToken": token} if token else headers,
        )


def credentials(username: str, password: str) -> bytes:
    """The admin page's JSON body (ASCII escapes: any text, lone surrogates included)."""
    return json.dumps({"username": username, "password": password}).encode()


def signed_in(response: httpx.Response) -> bool:
    return (response.status_code, response.json()) == (200, {"message": "logged in"}) and bool(
        response.cookies.get("id")
    )


def staff_refused(response: httpx.Response) -> bool:
    return (response.status_code, response.json()) == (401, {"detail": "Login failed"})


@pytest.fixture
async def staff(live_server: LiveServer) -> UserHandle:
    return await make_user(live_server.settings, staff=True)


async def test_wrong_staff_passwords_are_throttled_like_the_api_login(
    live_server: LiveServer, staff: UserHandle
) -> None:
    settings, address = live_server.settings, new_address()
    async with StaffBrowser(live_server.url, address) as browser:
        for _ in range(settings.login_failures_per_account):
            assert staff_refused(await browser.login(staff.username, "wrong-password-1"))
        assert_throttled(await browser.login(staff.username, "wrong-password-1"), 900)
        # Locked: the right password is not checked, and no session is made.
        sessions = await SessionsBase.count()
        assert_throttled(await browser.login(staff.username, PASSWORD), 900)
        assert await SessionsBase.count() == sessions
    async with StaffBrowser(live_server.url, new_address()) as elsewhere:
        assert signed_in(await elsewhere.login(staff.username, PASSWORD))


async def test_the_staff_login_and_the_api_login_share_one_budget(
    client: httpx.AsyncClient, live_server: LiveServer, staff: UserHandle
) -> None:
    """Two doors to one account: guesses through either count against the same budget."""
    limit, address = live_server.settings.login_failures_per_account, new_address()
    async with StaffBrowser(live_server.url, address) as browser:
        for n in range(limit):
            if n % 2:
                assert staff_refused(await browser.login(staff.username, "wrong-password-1"))
            else:
                response = await login(client, staff.email, "wrong-password-1", address)
                assert response.status_code == 401
        assert_throttled(await browser.login(staff.username, PASSWORD), 900)
        assert_throttled(await login(client, staff.email, PASSWORD, address), 900)


async def test_a_staff_login_starts_afresh_and_only_guesses_count(
    live_server: LiveServer, staff: UserHandle
) -> None:
    """A right password clears the account's count; a request whose password is never checked
    (no password, no CSRF token) is no guess, however many: Piccolo's own limit of 20 requests
    per address and process is not in the way either."""
    limit, address = live_server.settings.login_failures_per_account, new_address()
    async with StaffBrowser(live_server.url, address) as browser:
        for _ in range(limit - 1):
            assert staff_refused(await browser.login(staff.username, "wrong-password-1"))
        assert signed_in(await browser.login(staff.username, PASSWORD))
        for _ in range(12):
            missing = await browser.login(staff.username, "")
            assert (missing.status_code, missing.json()) == (
                422,
                {"detail": "Missing username or password"},
            )
            assert (await browser.login(staff.username, "wrong", csrf=False)).status_code == 403
        for _ in range(limit):
            assert staff_refused(await browser.login(staff.username, "wrong-password-1"))
        assert_throttled(await browser.login(staff.username, PASSWORD), 900)


async def test_hostile_staff_login_bodies_get_a_client_error(
    live_server: LiveServer, staff: UserHandle
) -> None:
    """What Piccolo's login could not read, or its query and hash could not take, is answered
    before it: never a 500. Text no username or password can hold is a wrong guess, counted."""
    async with StaffBrowser(live_server.url, new_address()) as browser:
        for body, status in (
            (b"[" * 8000 + b"]" * 8000, 400),  # nested deeper than the parser goes
            (b'{"username": "\xff\xfe", "password": "x"}', 400),  # not UTF-8
            (b'"just a string"', 400),
            (b'{"username": ["a"], "password": "x"}', 422),
            (b'{"username": "a", "password": "x"}' + b" " * 20_000, 413),
        ):
            response = await browser.post(body)
            assert response.status_code == status, (body[:40], response.text)
        limit = live_server.settings.login_failures_per_account
        for n in range(limit):  # NUL, a lone surrogate: PostgreSQL and UTF-8 refuse them
            password = "\ud800" if n % 2 else "a\x00b"
            assert staff_refused(await browser.post(credentials(staff.username, password)))
        assert_throttled(await browser.login(staff.username, PASSWORD), 900)
        assert staff_refused(await browser.post(credentials("a\x00b", "x")))


@pytest.mark.postgres_only
async def test_app_processes_share_the_staff_login_budget(
    live_server: LiveServer, test_env: dict[str, str], staff: UserHandle
) -> None:
    """Half the staff login guesses to this app, half to another process: one budget."""
    port = free_port()
    other = start_app(test_env, port)
    try:
        await wait_until_up(f"http://127.0.0.1:{port}")
        limit, address = live_server.settings.login_failures_per_account, new_address()
        async with (
            StaffBrowser(live_server.url, address) as first,
            StaffBrowser(f"http://127.0.0.1:{port}", address) as second,
        ):
            for n in range(limit):
                browser = first if n % 2 else second
                assert staff_refused(await browser.login(staff.username, "wrong-password-1"))
            assert_throttled(await first.login(staff.username, "wrong"), 900)
            assert_throttled(await second.login(staff.username, "wrong"), 900)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(other.pid, signal.SIGTERM)
        other.wait(timeout=30)
