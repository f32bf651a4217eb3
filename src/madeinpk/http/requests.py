"""The request type every handler takes, the absolute base URL its links are built on, and who
is asking (the client address the per-address limits count)."""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict
from litestar.exceptions import ClientException, SerializationException, WebSocketException
from litestar.types import ASGIApp, Receive, Scope, Send

from madeinpk.http.decoding import (
    DECODING_FAILURES,
    FORM_NOT_TEXT,
    Undecodable,
    check_urlencoded,
    json_failure,
)

AnyRequest = Request[Any, Any, Any]


class ClientRequest(Request[Any, Any, Any]):
    """The app's request class: a body Litestar cannot decode (a handler's typed ``data``,
    ``request.json()``, ``request.form()``) raises ``Undecodable``, DRF's 400, whatever
    msgspec or the form parser raised."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except SerializationException as exc:
            raise json_failure(exc.__cause__ or exc) from None
        except DECODING_FAILURES as exc:
            raise json_failure(exc) from None

    async def form(self) -> FormMultiDict:
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            check_urlencoded(await self.body(), FORM_NOT_TEXT)
        try:
            return await super().form()
        except (UnicodeError, LookupError):  # a multipart part, or its declared charset
            raise Undecodable("Multipart form parse error - a field is not valid text.") from None


class RefuseUnusableHost:
    """A ``Host`` header whose port is no port (``x:99999999``, ``a:b:c``) is the client's
    error, 400 ``Invalid host header`` as Litestar words it: Litestar checks the name but
    not the port, and every absolute URL built from the request (the metrics middleware's,
    pagination links) would raise instead, a 500. First of the app's middleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = next((v for k, v in scope["headers"] if k == b"host"), b"")
            try:
                urlsplit("//" + host.decode("latin-1")).port  # noqa: B018 (it raises)
            except ValueError:
                if scope["type"] == "websocket":  # refused before the handshake completes
                    raise WebSocketException("Invalid host header", code=4400) from None
                raise ClientException("Invalid host header") from None
        await self.app(scope, receive, send)


def base_url(request: AnyRequest) -> str:
    """``scheme://host[:port]`` of the request, without a trailing slash."""
    return str(request.base_url).rstrip("/")


def client_address(request: ASGIConnection[Any, Any, Any, Any]) -> str:
    """Who is asking: the peer, or the client a trusted proxy names (uvicorn's proxy headers,
    ``FORWARDED_ALLOW_IPS``). IPv6 counts per /64, the block one subscriber usually holds."""
    return address_of(request.scope.get("client"))


def address_of(client: Any) -> str:
    """``client_address`` of an ASGI scope's ``client`` (host, port), for plain ASGI apps."""
    host = str(client[0]) if client else ""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host or "unknown"
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network(f"{address}/64", strict=False))
    return str(address)
