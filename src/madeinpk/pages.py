"""The small live-auction web page served by the app itself (static files, no build step)."""

from __future__ import annotations

from pathlib import Path

from litestar import MediaType, Router, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath
from litestar.response import Response

from madeinpk.media import files_router

WEB = Path(__file__).parent / "web"


def page_routes() -> list[Router | HTTPRouteHandler]:
    index = (WEB / "index.html").read_text()
    auction = (WEB / "auction.html").read_text()

    @get("/", include_in_schema=False, media_type=MediaType.HTML)
    async def list_page() -> Response[str]:
        return Response(index, media_type=MediaType.HTML)

    @get("/auction/{auction_id:int}", include_in_schema=False, media_type=MediaType.HTML)
    async def auction_page(auction_id: FromPath[int]) -> Response[str]:
        return Response(auction, media_type=MediaType.HTML)

    static = files_router("/static", WEB, "web", include_in_schema=False)
    return [list_page, auction_page, static]
