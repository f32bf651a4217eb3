"""The caller (madeinpk.http.auth) and the vocabularies http/ keeps equal to the domains'."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from litestar import Request

from madeinpk.accounts.tables import SELLER_ROLES, Role
from madeinpk.http import auth
from madeinpk.http.errors import NotAuthenticated, PermissionDenied
from madeinpk.http.requests import base_url, client_address


def _account(role: str, *, is_staff: bool = False) -> auth.Account:
    return auth.Account(
        id=1,
        username="u",
        email="u@example.com",
        first_name="",
        last_name="",
        is_staff=is_staff,
        role=role,
        phone_number="",
        profile_picture="",
        is_blocked=False,
        failed_payment_count=0,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


def _connection(user: Any = None, client: tuple[str, int] | None = None) -> Request[Any, Any, Any]:
    scope = {
        "type": "http",
        "method": "GET",
        "scheme": "https",
        "server": ("shop.example", 443),
        "root_path": "",
        "path": "/api/x/",
        "headers": [(b"host", b"shop.example")],
        "query_string": b"",
        "user": user,
        "client": client,
    }
    return Request(scope=scope)  # type: ignore[arg-type]


def test_the_role_vocabulary_matches_the_accounts_table() -> None:
    assert auth.SELLER_ROLES == SELLER_ROLES
    assert auth.ADMIN_ROLE == Role.admin.value


@pytest.mark.parametrize(
    ("role", "is_staff", "seller", "admin"),
    [
        ("buyer", False, False, False),
        ("seller", False, True, False),
        ("both", False, True, False),
        ("admin", False, True, True),
        ("buyer", True, False, True),
    ],
)
def test_roles(role: str, is_staff: bool, seller: bool, admin: bool) -> None:
    account = _account(role, is_staff=is_staff)
    assert (account.is_seller, account.is_admin) == (seller, admin)


def test_guards() -> None:
    buyer, seller = _account("buyer"), _account("seller")
    assert auth.current_account(_connection(buyer)) is buyer
    assert auth.optional_account(_connection(buyer)) is buyer
    assert auth.optional_account(_connection(None)) is None
    assert auth.optional_account(_connection("not an account")) is None
    with pytest.raises(NotAuthenticated):
        auth.current_account(_connection(None))
    with pytest.raises(NotAuthenticated):
        auth.requires_account(_connection(None), None)  # type: ignore[arg-type]
    auth.requires_seller(_connection(seller), None)  # type: ignore[arg-type]
    with pytest.raises(PermissionDenied):
        auth.requires_seller(_connection(buyer), None)  # type: ignore[arg-type]


def test_base_url_has_no_trailing_slash() -> None:
    assert base_url(_connection()) == "https://shop.example"


@pytest.mark.parametrize(
    ("client", "address"),
    [
        (("203.0.113.7", 5000), "203.0.113.7"),
        (("::ffff:203.0.113.7", 5000), "203.0.113.7"),
        (("2001:db8:1:2:3:4:5:6", 5000), "2001:db8:1:2::/64"),
        (("testclient", 5000), "testclient"),
        (None, "unknown"),
    ],
)
def test_client_address(client: tuple[str, int] | None, address: str) -> None:
    assert client_address(_connection(client=client)) == address
