"""The staff login (the Piccolo admin's ``/admin/public/login/``) behind the API login's throttle.

Piccolo guards its login with an in-memory count per process (20 requests per address per five
minutes, no ``Retry-After``), so guesses grew with the number of app processes. Here the admin
login goes through the very ``LoginThrottle`` object the API login uses: the same counters (in
Redis when ``REDIS_URL`` is set, so every process shares them), the same settings, the same 429
with ``Retry-After``. One object rather than a second namespace, because both doors open the
same accounts: an address has one budget of guesses at the site's passwords, and an account one
per address, whichever door the guesses come through. So the account a staff login names is
keyed by its email, as the API login keys it; a username no account has is keyed by the name.

The wrapper sits on Piccolo's login endpoint itself (inside the admin's CSRF check), so every
path that reaches the endpoint passes it, and only requests whose password Piccolo will check
take a place in the budgets. Piccolo's own per-process limit is switched off: it would answer
429 without ``Retry-After`` before the shared budget is spent.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Mapping
from typing import Any

from piccolo.apps.user.tables import BaseUser
from piccolo_api.rate_limiting.middleware import RateLimitProvider
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from madeinpk.accounts.login_throttle import LoginAttempt, LoginThrottle
from madeinpk.asgi.outages import DATABASE_ERRORS, NETWORK_ERRORS, REDIS_ERRORS
from madeinpk.http.bodies import text_problem
from madeinpk.http.errors import RETRY_AFTER_SECONDS, UNAVAILABLE, Throttled
from madeinpk.http.requests import address_of

logger = logging.getLogger(__name__)

MAX_LOGIN_BODY = 16 * 1024  # a username, a password and a CSRF token
SESSION_COOKIE = b"id="  # what Piccolo's login sets on success, and only then
OUTAGES = (*REDIS_ERRORS, *DATABASE_ERRORS, *NETWORK_ERRORS)


class NoPerProcessLimit(RateLimitProvider):
    """Piccolo's per-process login limit, off: ``ThrottledStaffLogin`` counts instead."""

    def increment(self, identifier: str) -> None:
        return None


class _Refusal(Exception):
    def __init__(self, status: int, detail: str) -> None:
        self.response = JSONResponse({"detail": detail}, status)


class ThrottledStaffLogin:
    """Piccolo's login endpoint, each POST counted by the shared ``LoginThrottle``."""

    def __init__(self, login: ASGIApp, throttle: LoginThrottle) -> None:
        self.login = login
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.login(scope, receive, send)  # the login page itself
            return
        try:
            body = await _read_body(receive)
            username, password = await _credentials(scope, body)
            attempt = await self.throttle.attempt(
                await _account_of(username), address_of(scope.get("client"))
            )
            if text_problem(username) or text_problem(password):
                # No account has it, no password can be it, and Piccolo's query or hash would
                # fail on it: a wrong guess, answered (and counted) here.
                raise _Refusal(401, "Login failed")
        except _Refusal as refusal:
            await refusal.response(scope, receive, send)
            return
        except Throttled as throttled:
            await JSONResponse(throttled.body, 429, throttled.headers)(scope, receive, send)
            return
        except OUTAGES as exc:
            logger.warning("Staff login answered 503: %s", type(exc).__name__)
            unavailable = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            await JSONResponse({"detail": UNAVAILABLE}, 503, unavailable)(scope, receive, send)
            return
        await self._forward(scope, body, send, attempt)

    async def _forward(self, scope: Scope, body: bytes, send: Send, attempt: LoginAttempt) -> None:
        """Piccolo checks the password; its answer says which it was."""
        status, session = 0, False

        async def watch(message: Message) -> None:
            nonlocal status, session
            if message["type"] == "http.response.start":
                status = message["status"]
                session = any(
                    name.lower() == b"set-cookie" and value.startswith(SESSION_COOKIE)
                    for name, value in message.get("headers", [])
                )
            await send(message)

        try:
            await self.login(scope, _replay(body), watch)
        except HTTPException as exc:  # answered by the admin's exception handler, outside
            if exc.status_code != 401:  # 401: a wrong password, counted
                await self._settle(self.throttle.not_a_failure(attempt))
            raise
        except BaseException:
            await self._settle(self.throttle.not_a_failure(attempt))
            raise
        if session:
            await self._settle(self.throttle.succeeded(attempt))
        elif status not in (200, 401):  # 200 without a session: the HTML form's refusal
            await self._settle(self.throttle.not_a_failure(attempt))

    @staticmethod
    async def _settle(bookkeeping: Awaitable[None]) -> None:
        """The answer is sent: a store that fails now costs a count, not the answer."""
        try:
            await bookkeeping
        except OUTAGES as exc:
            logger.warning("Staff login not settled in the throttle: %s", type(exc).__name__)


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Refusal(400, "The client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_LOGIN_BODY:
            raise _Refusal(413, "Request body is too large")
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _replay(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _credentials(scope: Scope, body: bytes) -> tuple[str, str]:
    """What Piccolo's login will read, the way it reads it (the form the CSRF check parsed,
    else JSON, else a form); refused here when Piccolo would not check a password."""
    fields: Any = scope.get("form")
    if not fields:
        try:
            fields = json.loads(body)
        except json.JSONDecodeError:
            request = Request(scope, _replay(body))
            try:
                fields = await request.form()
            except (HTTPException, MultiPartException):
                raise _Refusal(400, "Malformed login form") from None
            finally:
                await request.close()
        except (ValueError, RecursionError):  # not UTF-8; nested past the parser's depth
            raise _Refusal(400, "Malformed login request") from None
    if not isinstance(fields, Mapping):
        raise _Refusal(400, "Malformed login request")
    username, password = fields.get("username"), fields.get("password")
    if not (isinstance(username, str) and username and isinstance(password, str) and password):
        raise _Refusal(422, "Missing username or password")  # Piccolo's words
    return username, password


async def _account_of(username: str) -> str:
    """The account's email when the username has one: the key the API login counts it by."""
    if text_problem(username) is None:
        row = await BaseUser.select(BaseUser.email).where(BaseUser.username == username).first()
        if row is not None:
            return str(row["email"])
    return f"username:{username}"  # no email has this form: no other account's count


def throttle_login(admin: Any, throttle: LoginThrottle) -> None:
    """Put ``throttle`` in front of the admin's login endpoint (``/public/login/``)."""
    [public] = [r for r in admin.routes if isinstance(r, Mount) and r.path == "/public"]
    [login] = [r for r in public.routes if isinstance(r, Mount) and r.path == "/login"]
    login.app = ThrottledStaffLogin(login.app, throttle)
