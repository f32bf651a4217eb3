"""The Litestar application factory: one ``create_app(settings)`` for server, tests and tools."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.channels.backends.base import ChannelsBackend
from litestar.channels.backends.memory import MemoryChannelsBackend
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from madeinpk.accounts.address_controller import (
    AddressController,
    CityController,
    ProvinceController,
)
from madeinpk.accounts.auth import TokenAuthenticationMiddleware
from madeinpk.accounts.controller import AccountController
from madeinpk.accounts.schemas import ProfileUpdate, ProfileUpdateForm
from madeinpk.accounts.seller_controller import SellerController, SellerProfileController
from madeinpk.admin import admin_handler
from madeinpk.auctions.controller import AuctionController, seller_statistics
from madeinpk.auctions.events import AuctionEvents
from madeinpk.auctions.live import LiveAuctions
from madeinpk.auctions.live_recovery import follow_interruptions
from madeinpk.auctions.rate_limit import BidRateLimiter
from madeinpk.auctions.schemas import AuctionCreate, AuctionCreateForm
from madeinpk.auctions.socket import auction_socket
from madeinpk.broker import broker, use_app_context
from madeinpk.catalog.controller import CategoryController, ProductController
from madeinpk.catalog.schemas import ImageUpload, ProductCreate, ProductCreateForm
from madeinpk.database import build_engine, database_lifespan
from madeinpk.http_errors import (
    EXCEPTION_HANDLERS,
    document_error_bodies,
    reject_impossible_ids,
)
from madeinpk.logs import RequestIdMiddleware, add_request_id_header, logging_config
from madeinpk.media import MEDIA_URL
from madeinpk.notifications.controller import NotificationController
from madeinpk.observability import (
    OPERATIONAL_PATHS,
    MetricsController,
    Readiness,
    forget_this_process,
    health_live,
    health_ready,
    prometheus_config,
)
from madeinpk.orders.controller import FeedbackController, OrderController
from madeinpk.outages import OUTAGE_HANDLERS
from madeinpk.pages import page_routes
from madeinpk.request_bodies import component_schemas
from madeinpk.scheduling import run_embedded_scheduler
from madeinpk.settings import Settings
from madeinpk.websocket_close import CloseOnceMiddleware


def channels_backend(settings: Settings) -> ChannelsBackend:
    """Redis pub/sub reaches every app process; memory is enough for the single embedded one.
    The Redis backend reconnects and resubscribes by itself (``madeinpk.redis_channels``)."""
    if settings.redis_url is None:
        return MemoryChannelsBackend()
    from madeinpk.redis_channels import ReconnectingPubSubBackend, redis_client

    return ReconnectingPubSubBackend(redis=redis_client(settings.redis_url))


class RedactTokens(logging.Filter):
    """Login keys travel in ``?token=`` on sockets (browsers cannot set headers there); keep
    them out of the access log."""

    _TOKEN = re.compile(r"(token=)[^&\s\"]+")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._TOKEN.sub(r"\1[redacted]", a) if isinstance(a, str) else a
                for a in record.args
            )
        return True


def _redact_access_log() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    _redact_access_log()
    engine = build_engine(settings)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    backend = channels_backend(settings)
    channels = ChannelsPlugin(backend=backend, arbitrary_channels_allowed=True)
    live = LiveAuctions(channels)
    follow_interruptions(backend, live)
    auction_events = AuctionEvents(channels)
    bid_rate_limiter = BidRateLimiter(settings.bid_rate_limit)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with database_lifespan(engine, settings):
            use_app_context(settings, auction_events)
            await broker.startup()
            # Embedded, the scheduler lives here too; in production it is its own process.
            scheduler_task = (
                asyncio.create_task(run_embedded_scheduler()) if settings.embedded else None
            )
            try:
                yield
            finally:
                if scheduler_task is not None:
                    scheduler_task.cancel()
                await broker.shutdown()
                forget_this_process()

    def provide_settings() -> Settings:
        return settings

    def provide_auction_events() -> AuctionEvents:
        return auction_events

    def provide_bid_rate_limiter() -> BidRateLimiter:
        return bid_rate_limiter

    app = Litestar(
        route_handlers=[
            AccountController,
            CategoryController,
            ProductController,
            AuctionController,
            seller_statistics,
            OrderController,
            FeedbackController,
            SellerProfileController,
            SellerController,
            NotificationController,
            AddressController,
            ProvinceController,
            CityController,
            auction_socket,
            health_live,
            health_ready,
            MetricsController,
            admin_handler(settings),
            *page_routes(),
            create_static_files_router(
                path=MEDIA_URL.rstrip("/"), directories=[settings.media_root], name="media"
            ),
        ],
        dependencies={
            "settings": Provide(provide_settings, sync_to_thread=False, use_cache=True),
            "auction_events": Provide(provide_auction_events, sync_to_thread=False, use_cache=True),
            "bid_rate_limiter": Provide(
                provide_bid_rate_limiter, sync_to_thread=False, use_cache=True
            ),
        },
        plugins=[channels],
        state=State(
            {
                "live": live,
                "auction_events": auction_events,
                "bid_rate_limiter": bid_rate_limiter,
                "settings": settings,
                "readiness": Readiness(engine, backend, broker),
            }
        ),
        middleware=[
            RequestIdMiddleware,
            CloseOnceMiddleware,
            prometheus_config().middleware,
            DefineMiddleware(
                TokenAuthenticationMiddleware,
                exclude=["^/schema", "^/media/", "^/admin", "^/static/", *OPERATIONAL_PATHS],
            ),
        ],
        before_send=[add_request_id_header],
        exception_handlers={**EXCEPTION_HANDLERS, **OUTAGE_HANDLERS},
        before_request=reject_impossible_ids,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=True),
        openapi_config=OpenAPIConfig(
            title="MadeInPK Live",
            version="1.0.0",
            description="Live auctions of Pakistani handmade goods.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(), ScalarRenderPlugin()],
        ),
        lifespan=[lifespan],
        logging_config=logging_config(settings),
        debug=settings.debug,
    )
    # Bodies read by ``read_body`` (JSON or multipart) are documented by hand: their operations
    # refer to these components, which Litestar cannot derive from a handler signature.
    openapi = app.openapi_schema
    document_error_bodies(openapi)
    components = openapi.components
    components.schemas = {
        **(components.schemas or {}),
        **component_schemas(
            AuctionCreate,
            AuctionCreateForm,
            ProductCreate,
            ProductCreateForm,
            ImageUpload,
            ProfileUpdate,
            ProfileUpdateForm,
        ),
    }
    return app
