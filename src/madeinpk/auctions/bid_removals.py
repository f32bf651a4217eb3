"""``/api/bids/{id}/remove/`` (staff) and ``/api/bids/{id}/retract/`` (the bid's bidder):
translation only; the bid desk decides, in order with the auction's bids (docs/auction-rules.md
§ 10)."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.status_codes import HTTP_200_OK

from madeinpk.auctions.bidding.desk import BidDesk
from madeinpk.auctions.bidding.refusals import MESSAGES, Reason, Refused
from madeinpk.auctions.bidding.removal import Removed, removal_request
from madeinpk.auctions.bidding.removal_rules import Remover
from madeinpk.auctions.live.messages import BidRemovedData
from madeinpk.db.database import MAX_ID
from madeinpk.http.auth import Account, requires_account
from madeinpk.http.errors import BusinessError, ServiceUnavailable
from madeinpk.settings import Settings

# How a refused removal is answered; every other reason is 400.
_STATUS = {
    Reason.unknown_bid: 404,
    Reason.staff_only: 403,
    Reason.not_your_bid: 403,
    Reason.already_removed: 409,
}


async def _remove(
    account: Account, bid_id: int, desk: BidDesk, settings: Settings, *, as_staff: bool
) -> BidRemovedData:
    if not 0 < bid_id <= MAX_ID:
        raise BusinessError(MESSAGES[Reason.unknown_bid], 404)
    remover = Remover(account.id, account.is_admin)
    request = await removal_request(
        bid_id, remover, as_staff=as_staff, retract_seconds=settings.retract_seconds
    )
    outcome = request if isinstance(request, Refused) else await desk.remove(request)
    if isinstance(outcome, Removed):
        return outcome.data
    if outcome.reason is Reason.internal:
        raise ServiceUnavailable()
    raise BusinessError(outcome.message, _STATUS.get(outcome.reason, 400))


class BidRemovalController(Controller):
    path = "/api/bids"
    tags = ["bids"]

    @post(
        "/{bid_id:int}/remove/",
        status_code=HTTP_200_OK,
        guards=[requires_account],
        operation_id="RemoveBid",
    )
    async def remove_bid(
        self,
        account: NamedDependency[Account],
        bid_id: FromPath[int],
        bid_desk: NamedDependency[BidDesk],
        settings: NamedDependency[Settings],
    ) -> BidRemovedData:
        """Staff only: remove any bid a person placed on an active auction. Price, leader and
        maxima are recomputed from the bids left; watchers get ``bid_removed``."""
        return await _remove(account, bid_id, bid_desk, settings, as_staff=True)

    @post(
        "/{bid_id:int}/retract/",
        status_code=HTTP_200_OK,
        guards=[requires_account],
        operation_id="RetractBid",
    )
    async def retract_bid(
        self,
        account: NamedDependency[Account],
        bid_id: FromPath[int],
        bid_desk: NamedDependency[BidDesk],
        settings: NamedDependency[Settings],
    ) -> BidRemovedData:
        """The bid's own bidder, within ``RETRACT_SECONDS`` of placing it and never in the
        auction's last hour."""
        return await _remove(account, bid_id, bid_desk, settings, as_staff=False)
