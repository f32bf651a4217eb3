"""Who is calling: one token resolver for HTTP (``Authorization: Token …``) and sockets
(``?token=…``). The caller type and the guards live in ``madeinpk.http.auth`` (every domain
reads them); they are imported here too, for the modules that still take them from here."""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from madeinpk.accounts.tables import AuthToken, Role
from madeinpk.accounts.tokens import hash_key
from madeinpk.db.sql import Dialect, raw
from madeinpk.http.auth import Account
from madeinpk.http.errors import INVALID_TOKEN, NotAuthenticated
from madeinpk.timestamps import utc_now

# One round trip per request: token, user and profile together. The LEFT JOIN keeps staff users
# made with `piccolo user create` (no profile row) usable.
_ACCOUNT_COLUMNS = """
    u.id, u.username, u.email, u.first_name, u.last_name, u.admin, u.active,
    p.role, p.phone_number, p.profile_picture, p.is_blocked, p.failed_payment_count,
    p.created_at, p.language
"""
_BY_TOKEN = f"""
    SELECT {_ACCOUNT_COLUMNS}
    FROM auth_token t
    JOIN piccolo_user u ON u.id = t."user"
    LEFT JOIN user_profile p ON p."user" = u.id
    WHERE t.key_hash = :key_hash AND t.expires_at > :now
"""
_BY_ID = f"""
    SELECT {_ACCOUNT_COLUMNS}
    FROM piccolo_user u
    LEFT JOIN user_profile p ON p."user" = u.id
    WHERE u.id = :user_id
"""


def _account(row: dict[str, Any]) -> Account:
    created = row["created_at"]  # SQLite returns raw text for joined timestamp columns
    return Account(
        id=row["id"],
        username=row["username"],
        email=row["email"],
        first_name=row["first_name"] or "",
        last_name=row["last_name"] or "",
        is_staff=bool(row["admin"]),
        role=row["role"] or (Role.admin.value if row["admin"] else Role.buyer.value),
        phone_number=row["phone_number"] or "",
        profile_picture=row["profile_picture"] or "",
        is_blocked=bool(row["is_blocked"]),
        failed_payment_count=row["failed_payment_count"] or 0,
        created_at=Dialect.timestamp(created) if created else utc_now(),
        language=row["language"] or "en",
    )


async def resolve_token(key: str) -> Account | None:
    """The account behind a key, or None when the key is unknown, expired or its user inactive."""
    if not key or len(key) > 128:
        return None
    rows = await raw(AuthToken, _BY_TOKEN, key_hash=hash_key(key), now=utc_now())
    if not rows or not rows[0]["active"]:
        return None
    return _account(rows[0])


async def load_account(user_id: int) -> Account | None:
    rows = await raw(AuthToken, _BY_ID, user_id=user_id)
    return _account(rows[0]) if rows else None


class TokenAuthenticationMiddleware(AbstractAuthenticationMiddleware):
    """DRF's TokenAuthentication: no header is anonymous, a bad key is 401 even on public reads."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        header = connection.headers.get("authorization")
        if not header:
            return AuthenticationResult(user=None, auth=None)
        scheme, _, key = header.strip().partition(" ")
        if scheme.lower() != "token":
            return AuthenticationResult(user=None, auth=None)
        key = key.strip()
        account = await resolve_token(key) if key and " " not in key else None
        if account is None:
            raise NotAuthenticated(INVALID_TOKEN)
        return AuthenticationResult(user=account, auth=key)
