"""The Litestar application factory: one ``create_app(settings)`` for server, tests and tools."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.cors import CORSConfig
from litestar.di import Provide
from litestar.logging.config import LoggingConfig
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from madeinpk.accounts.auth import TokenAuthenticationMiddleware
from madeinpk.accounts.controller import AccountController
from madeinpk.catalog.controller import CategoryController
from madeinpk.database import build_engine, database_lifespan
from madeinpk.http_errors import EXCEPTION_HANDLERS
from madeinpk.media import MEDIA_URL
from madeinpk.settings import Settings


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    engine = build_engine(settings)
    settings.media_root.mkdir(parents=True, exist_ok=True)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with database_lifespan(engine, settings):
            yield

    def provide_settings() -> Settings:
        return settings

    return Litestar(
        route_handlers=[
            AccountController,
            CategoryController,
            create_static_files_router(
                path=MEDIA_URL.rstrip("/"), directories=[settings.media_root], name="media"
            ),
        ],
        dependencies={"settings": Provide(provide_settings, sync_to_thread=False, use_cache=True)},
        middleware=[
            DefineMiddleware(
                TokenAuthenticationMiddleware,
                exclude=["^/schema", "^/media/", "^/admin"],
            )
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=True),
        openapi_config=OpenAPIConfig(
            title="MadeInPK Live",
            version="1.0.0",
            description="Live auctions of Pakistani handmade goods.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(), ScalarRenderPlugin()],
        ),
        lifespan=[lifespan],
        # Expected errors are answers, not incidents; the 500 handler logs real failures itself.
        logging_config=LoggingConfig(log_exceptions="never"),
        debug=settings.debug,
    )
