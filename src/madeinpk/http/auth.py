"""The caller as every domain sees it (``Account``), and the guards that turn "nobody" into the
contract's 401/403 bodies.

Who the caller is gets decided in ``madeinpk.accounts.auth`` (the token middleware, and the
token cache the sockets use); this module only reads the answer, so every domain can depend on
it without depending on the accounts package.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from madeinpk.http.errors import NotAuthenticated, PermissionDenied

# The role values of ``accounts.tables.Role`` that the caller's checks need (a test keeps them
# equal to the table's).
ADMIN_ROLE = "admin"
SELLER_ROLES = frozenset({"seller", "both", "admin"})


@dataclass(frozen=True, slots=True)
class Account:
    """The caller, as every domain needs to see it: identity, role and standing."""

    id: int
    username: str
    email: str
    first_name: str
    last_name: str
    is_staff: bool
    role: str
    phone_number: str
    profile_picture: str
    is_blocked: bool
    failed_payment_count: int
    created_at: datetime
    language: str = "en"  # of the notices and emails written to this user

    @property
    def is_admin(self) -> bool:
        return self.is_staff or self.role == ADMIN_ROLE

    @property
    def is_seller(self) -> bool:
        return self.role in SELLER_ROLES


@runtime_checkable  # the sockets take it as a dependency, which Litestar checks against its type
class AccountsByKey(Protocol):
    """What a socket needs to sign its caller in: the account behind a login key, or None."""

    async def account(self, key: str) -> Account | None: ...


def current_account(connection: ASGIConnection[Any, Any, Any, Any]) -> Account:
    """The signed-in caller; 401 when there is none."""
    account = connection.scope.get("user")
    if not isinstance(account, Account):
        raise NotAuthenticated()
    return account


def optional_account(connection: ASGIConnection[Any, Any, Any, Any]) -> Account | None:
    """The signed-in caller, or None for an anonymous one."""
    user = connection.scope.get("user")
    return user if isinstance(user, Account) else None


def provide_account(request: Request[Any, Any, Any]) -> Account:
    """The ``account`` dependency: the signed-in caller of a handler its guard already let in."""
    return current_account(request)


def requires_account(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    current_account(connection)


def requires_seller(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if not current_account(connection).is_seller:
        raise PermissionDenied()
