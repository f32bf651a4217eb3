"""The Piccolo admin panel at ``/admin/``: built once per app, never per request.

Only staff (``BaseUser.admin``) can sign in; ``madeinpk createsuperuser`` makes one.
"""

from __future__ import annotations

from typing import Any

from litestar import asgi
from litestar.handlers.asgi_handlers import ASGIRouteHandler
from litestar.types import Receive, Scope, Send
from piccolo_admin.endpoints import create_admin

from madeinpk.database import ALL_TABLES
from madeinpk.settings import Settings


def admin_handler(settings: Settings) -> ASGIRouteHandler:
    admin: Any = create_admin(
        tables=[t for t in ALL_TABLES if t._meta.tablename != "sessions"],
        site_name="MadeInPK Admin",
        # Secure cookies off only in development, where there is no HTTPS.
        production=not settings.debug,
    )

    @asgi("/admin", is_mount=True, copy_scope=True)
    async def admin_panel(scope: Scope, receive: Receive, send: Send) -> None:
        await admin(scope, receive, send)

    return admin_panel
