"""The request type every handler takes, the absolute base URL its links are built on, and who
is asking (the client address the per-address limits count)."""

from __future__ import annotations

import ipaddress
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection

AnyRequest = Request[Any, Any, Any]


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
