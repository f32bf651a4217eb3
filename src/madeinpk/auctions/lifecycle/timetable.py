"""An auction's one-off tasks (its start and its ending), set after whatever listed, relisted,
edited or withdrew it: the one place that decides which of them a listing needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from madeinpk.after_commit import AfterCommit, Effects
from madeinpk.timestamps import utc_now

if TYPE_CHECKING:  # selling imports this module; annotations only
    from madeinpk.auctions.selling import Terms


def schedule_tasks(
    effects: Effects, auction_id: int, terms: Terms | None, scheduled: bool | None = None
) -> None:
    """The auction's one-off tasks after a listing, a relist, an edit (``terms``) or a
    withdrawal (None): its ending, and its start while it waits ``scheduled`` (by default:
    while its start is ahead)."""
    done = AfterCommit()
    if terms is None:
        done.cancel_ending(auction_id)
        done.cancel_start(auction_id)
    else:
        done.schedule_ending(auction_id, terms.end_time)
        if scheduled is None:
            scheduled = terms.start_time > utc_now()
        if scheduled:
            done.schedule_start(auction_id, terms.start_time)
        else:
            done.cancel_start(auction_id)
    effects.flush(done)
