"""The Litestar application factory: one ``create_app(settings)`` for server, tests and tools."""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any
from urllib.parse import unquote_plus

from litestar import Litestar
from litestar.channels import ChannelsPlugin
from litestar.config.app import AppConfig
from litestar.config.cors import CORSConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.enums import ScopeType
from litestar.middleware import DefineMiddleware
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin
from litestar.plugins import InitPluginProtocol

from madeinpk.accounts.addresses.controller import (
    AddressController,
    CityController,
    ProvinceController,
)
from madeinpk.accounts.auth import TokenAuthenticationMiddleware
from madeinpk.accounts.controller import AccountController
from madeinpk.accounts.login_throttle import LoginThrottle
from madeinpk.accounts.schemas import ProfileUpdate, ProfileUpdateForm
from madeinpk.accounts.sellers.controller import SellerController, SellerProfileController
from madeinpk.accounts.service import SalesSummary
from madeinpk.accounts.token_cache import TokenCache
from madeinpk.admin.site import admin_handler
from madeinpk.after_commit import Effects
from madeinpk.asgi.outages import OUTAGE_HANDLERS
from madeinpk.asgi.websocket_close import CloseOnceMiddleware
from madeinpk.auctions.bid_removals import BidRemovalController
from madeinpk.auctions.bidding.desk import BidDesk
from madeinpk.auctions.bidding.owners import OwnedBidDesk, OwnerLeases, process_name
from madeinpk.auctions.bidding.rate_limit import BidRateLimiter, bid_rate_limiter
from madeinpk.auctions.buy_now_controller import BuyNowController
from madeinpk.auctions.controller import AuctionController
from madeinpk.auctions.lifecycle.purchases import Purchases
from madeinpk.auctions.lifecycle.reminders import window as reminder_window
from madeinpk.auctions.listing import PRODUCT_LISTINGS, AuctionOrders
from madeinpk.auctions.live.asyncapi import asyncapi_document
from madeinpk.auctions.live.hub import LiveAuctions, shared_status
from madeinpk.auctions.live.recovery import close_interrupted_watchers
from madeinpk.auctions.live.socket import AuctionSocketServices, auction_socket
from madeinpk.auctions.schemas import (
    AuctionCreate,
    AuctionCreateForm,
    AuctionRelist,
    AuctionUpdate,
    BidAmount,
)
from madeinpk.auctions.watchlist_controller import WatchController, WatchlistController
from madeinpk.catalog.controller import CategoryController, ProductController
from madeinpk.catalog.products import Listings
from madeinpk.catalog.schemas import ImageUpload, ProductCreate, ProductCreateForm, ProductUpdate
from madeinpk.db.engines import build_engine, database_lifespan
from madeinpk.db.read_replicas import ReadRoutingMiddleware
from madeinpk.http.auth import provide_account
from madeinpk.http.bodies import component_schemas, screen_request
from madeinpk.http.errors import EXCEPTION_HANDLERS, document_error_bodies, log_socket_failure
from madeinpk.http.pagination import provide_page_request
from madeinpk.http.requests import ClientRequest, RefuseUnusableHost
from madeinpk.http.socket_cap import socket_cap
from madeinpk.media import media_router
from madeinpk.notifications.controller import NotificationController
from madeinpk.notifications.live import NotificationFeeds
from madeinpk.notifications.mail import unsent_count
from madeinpk.notifications.socket import NotificationSocketServices, notification_socket
from madeinpk.observability.health import (
    OPERATIONAL_PATHS,
    Readiness,
    forget_this_process,
    health_live,
    health_ready,
    metrics_controller,
    prometheus_config,
)
from madeinpk.observability.logs import RequestIdMiddleware, add_request_id_header, logging_config
from madeinpk.orders.controller import (
    FeedbackController,
    OfferController,
    OrderController,
    seller_statistics,
)
from madeinpk.orders.service import AUCTION_ORDERS, auction_orders, sales_summary
from madeinpk.pages import page_routes
from madeinpk.redis_io.channels_backend import RedisBackend, channels_backend, channels_plugin
from madeinpk.redis_io.redis_topology import redis_client
from madeinpk.redis_io.schedule_source import build_schedule_source
from madeinpk.scheduling import build_scheduler, run_embedded_scheduler
from madeinpk.settings import Settings
from madeinpk.tasks import BROADCASTING, build_endings, build_task_broker


class RedactTokens(logging.Filter):
    """Login keys travel in ``?token=`` on sockets (browsers cannot set headers there); keep
    them out of the access log. A parameter's name is judged as the app reads it, percent-
    decoded (``?tok%65n=`` signs in too), and whatever its case: any name holding "token"."""

    _PARAMETER = re.compile(r"(?<=[?&;])([^&;=\s\"]*)=([^&;\s\"]*)")

    @staticmethod
    def _redact(match: re.Match[str]) -> str:
        name = match[1]
        if "token" in unquote_plus(name).casefold():
            return f"{name}=[redacted]"
        return match[0]

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                self._PARAMETER.sub(self._redact, a) if isinstance(a, str) and "=" in a else a
                for a in record.args
            )
        return True


def _redact_access_log() -> None:
    for name in ("uvicorn.access", "uvicorn.error"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactTokens) for f in logger.filters):
            logger.addFilter(RedactTokens())


def constant(kind: Any, value: object) -> Provide:
    """The dependency that is always ``value``, one object for the app's life; declared as
    returning ``kind`` (a class, Protocol or Callable alias), since Litestar builds the
    provider's signature from its annotations."""

    def provide() -> Any:
        return value

    provide.__annotations__ = {"return": kind}
    return Provide(provide, sync_to_thread=False, use_cache=True)


class HandOverBids(InitPluginProtocol):
    """Litestar leaves lifespans last in, first out, so this one, registered after the channels
    plugin, runs its shutdown while the channels still carry what other processes forward to an
    owner that is handing its auctions over."""

    def __init__(self, desk: BidDesk) -> None:
        self.desk = desk

    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.lifespan.append(self.lifespan)
        return app_config

    @asynccontextmanager
    async def lifespan(self, _: Litestar) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if isinstance(self.desk, OwnedBidDesk):
                await self.desk.hand_over()
                await self.desk.leases.redis.aclose()


def bid_desk_for(
    settings: Settings, effects: Effects, channels: ChannelsPlugin, live: LiveAuctions
) -> BidDesk:
    """Embedded (one process) or with leases off, every process decides the bids it gets;
    with Redis, an auction's bids go to the one process that holds its lease."""
    purchases = Purchases(settings, AUCTION_ORDERS)  # Buy It Now ends auctions as endings do
    if settings.redis_url is None or settings.bid_owner_lease_ms == 0:
        return BidDesk(effects, settings.bid_increments, purchases=purchases)
    leases = OwnerLeases(
        redis_client(settings.redis_url, cluster=settings.redis_cluster),
        settings.redis_key_prefix,
        process_name(),
        settings.bid_owner_lease_ms / 1000,
    )
    return OwnedBidDesk(
        effects,
        settings.bid_increments,
        leases=leases,
        channels=channels,
        channel_prefix=settings.channel_prefix,
        subscription_lock=live.subscription_lock,
        purchases=purchases,
    )


def create_app(settings: Settings | None = None) -> Litestar:
    settings = settings or Settings.from_env()
    _redact_access_log()
    engine = build_engine(settings, replicas=True)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    backend = channels_backend(settings)
    channels = channels_plugin(backend)
    live = LiveAuctions(
        channels,
        channel_prefix=settings.channel_prefix,
        load_status=shared_status(settings.bid_increments),
    )
    if isinstance(backend, RedisBackend):  # Redis only; memory never breaks
        backend.add_listener(partial(close_interrupted_watchers, live))
    # The task broker and the schedule source, from these settings: on Redis they hand tasks
    # to the workers and endings to the scheduler; embedded, this process runs both itself.
    broker = build_task_broker(settings)
    schedule_source = build_schedule_source(settings)
    effects = Effects(
        channels,
        settings.channel_prefix,
        broker,
        schedule_source,
        BROADCASTING,
        ending_soon=reminder_window(settings),
    )
    endings = build_endings(settings, effects)
    broker.state.settings = settings  # what tasks run here (embedded) are given
    broker.state.effects = effects
    broker.state.endings = endings
    scheduler = build_scheduler(broker, schedule_source) if settings.embedded else None
    effects.deliver_locally = live.deliver
    bid_desk = bid_desk_for(settings, effects, channels, live)
    rate_limiter = bid_rate_limiter(
        settings.redis_url,
        settings.bid_rate_limit,
        settings.redis_key_prefix,
        cluster=settings.redis_cluster,
    )
    sockets_per_ip = socket_cap(
        settings.redis_url,
        settings.max_sockets_per_ip,
        settings.redis_key_prefix,
        cluster=settings.redis_cluster,
    )
    login_throttle = LoginThrottle.from_settings(settings)
    token_cache = TokenCache()
    notification_feeds = NotificationFeeds(channels, settings.channel_prefix)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async with database_lifespan(engine, settings):
            await broker.startup()
            await sockets_per_ip.start()
            # Embedded, the scheduler lives here too; in production it is its own process.
            scheduler_task = (
                asyncio.create_task(run_embedded_scheduler(scheduler))
                if scheduler is not None
                else None
            )
            # Everything loaded so far lives as long as the process: keep the collector from
            # walking it again on every collection (thousands of sockets make many).
            gc.collect()
            gc.freeze()
            try:
                yield
            finally:
                await bid_desk.drain()
                await effects.drain()
                if scheduler_task is not None:
                    scheduler_task.cancel()
                await broker.shutdown()
                forget_this_process()
                await sockets_per_ip.close()
                await rate_limiter.close()

    app = Litestar(
        route_handlers=[
            AccountController,
            CategoryController,
            ProductController,
            AuctionController,
            BuyNowController,
            BidRemovalController,
            WatchController,
            WatchlistController,
            seller_statistics,
            OrderController,
            FeedbackController,
            OfferController,
            SellerProfileController,
            SellerController,
            NotificationController,
            AddressController,
            ProvinceController,
            CityController,
            auction_socket,
            health_live,
            health_ready,
            metrics_controller(unsent_count),
            asyncapi_document,
            notification_socket,
            admin_handler(settings, login_throttle),
            *page_routes(),
            media_router(settings.media_root),
        ],
        dependencies={
            "settings": constant(Settings, settings),
            "paging": Provide(provide_page_request, sync_to_thread=False),
            "account": Provide(provide_account, sync_to_thread=False),
            "sales_summary": constant(SalesSummary, sales_summary),
            "auction_orders": constant(AuctionOrders, auction_orders),
            "listings": constant(Listings, PRODUCT_LISTINGS),
            "effects": constant(Effects, effects),
            "bid_desk": constant(BidDesk, bid_desk),
            "bid_rate_limiter": constant(BidRateLimiter, rate_limiter),
            "login_throttle": constant(LoginThrottle, login_throttle),
            "token_cache": constant(TokenCache, token_cache),  # logout forgets the token
            # The sockets': one each, resolved once per connection.
            "auction_socket_services": constant(
                AuctionSocketServices,
                AuctionSocketServices(
                    sockets_per_ip,
                    token_cache,
                    live,
                    bid_desk,
                    rate_limiter,
                    settings.retract_seconds,
                ),
            ),
            "notification_socket_services": constant(
                NotificationSocketServices,
                NotificationSocketServices(sockets_per_ip, token_cache, notification_feeds),
            ),
        },
        plugins=[channels, HandOverBids(bid_desk)],
        # Read outside DI: by the /metrics guard (guards take no dependencies), by the
        # readiness check (a test swaps it here) and by tests that drive the effects (the task
        # broker and schedule source) and the endings directly. Everything else is a dependency
        # above.
        state=State(
            {
                "settings": settings,
                "readiness": Readiness(engine, backend, broker),
                "effects": effects,
                "endings": endings,
            }
        ),
        middleware=[
            RefuseUnusableHost,
            RequestIdMiddleware,
            # Outside auth: it reads the account after auth set it. Without replicas every read
            # is the primary's, and requests need no marking.
            *([ReadRoutingMiddleware] if settings.replicas.urls else []),
            CloseOnceMiddleware,
            prometheus_config().middleware,
            DefineMiddleware(
                TokenAuthenticationMiddleware,
                exclude=["^/schema", "^/media/", "^/admin", "^/static/", *OPERATIONAL_PATHS],
                # Sockets sign in with ?token= (browsers cannot set headers there).
                scopes={ScopeType.HTTP},
            ),
        ],
        before_send=[add_request_id_header],
        exception_handlers={**EXCEPTION_HANDLERS, **OUTAGE_HANDLERS},
        before_request=screen_request,
        after_exception=[log_socket_failure],
        request_class=ClientRequest,
        cors_config=CORSConfig(allow_origins=list(settings.cors_origins), allow_credentials=True),
        openapi_config=OpenAPIConfig(
            title="MadeInPK Live",
            version="1.0.0",
            description="Live auctions of Pakistani handmade goods.",
            path="/schema",
            render_plugins=[SwaggerRenderPlugin(), ScalarRenderPlugin()],
        ),
        lifespan=[lifespan],
        on_shutdown=[login_throttle.close],
        logging_config=logging_config(settings),
        debug=settings.debug,
    )
    # Bodies read by ``read_body`` or ``read_json`` are documented by hand: their operations
    # refer to these components, which Litestar cannot derive from a handler signature.
    openapi = app.openapi_schema
    document_error_bodies(openapi)
    components = openapi.components
    components.schemas = {
        **(components.schemas or {}),
        **component_schemas(
            AuctionCreate,
            AuctionCreateForm,
            AuctionRelist,
            AuctionUpdate,
            BidAmount,
            ProductCreate,
            ProductCreateForm,
            ProductUpdate,
            ImageUpload,
            ProfileUpdate,
            ProfileUpdateForm,
        ),
    }
    return app
