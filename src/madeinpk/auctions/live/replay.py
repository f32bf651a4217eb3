"""Replay from the event log (``auction_event``, docs/websocket.md § 7).

Every broadcast event is stored in the transaction that caused it, exactly as it was sent, so the
log is what a reconnecting client catches up from (``?since_seq=N``) and what a process fills a
gap in its live stream from when a publisher died between commit and publish.
"""

from __future__ import annotations

from madeinpk.auctions.tables import Auction, AuctionEvent

PAGE = 500  # events read per query: a long replay never holds the whole log in memory
REPLAY_PREFIX = '{"replay":true,'


class InvalidSinceSeq(ValueError):
    """``since_seq`` is not a whole number ≥ 0."""


def parse_since_seq(raw: str | None) -> int | None:
    """None when absent; a whole number of at most 10 ASCII digits, as docs/websocket.md
    says, else an error. Past the column's range (2**31 - 1) is past every event there is:
    nothing to replay, and no query is made with it (``stored_events`` asks only below the
    auction's own ``seq``)."""
    if raw is None:
        return None
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise InvalidSinceSeq(raw)
    return int(raw)


def as_replay(payload: str) -> str:
    """The frame exactly as broadcast, with ``"replay": true`` added at the top level (every
    payload is a JSON object, so the text stays byte-identical after the new member)."""
    return REPLAY_PREFIX + payload[1:]


async def stored_events(auction_id: int, after: int, upto: int) -> list[tuple[int, str]]:
    """The events with ``after < seq <= upto``, in order, at most ``PAGE`` of them."""
    if upto <= after:
        return []
    rows = (
        await AuctionEvent.select(AuctionEvent.seq, AuctionEvent.payload)
        .where(
            (AuctionEvent.auction == auction_id)
            & (AuctionEvent.seq > after)
            & (AuctionEvent.seq <= upto)
        )
        .order_by(AuctionEvent.seq)
        .limit(PAGE)
    )
    return [(row["seq"], row["payload"]) for row in rows]


async def latest_seqs(auction_ids: list[int]) -> dict[int, int]:
    """The last event number of each auction: a watched stream whose last event was never
    published is behind this."""
    if not auction_ids:
        return {}
    rows = await Auction.select(Auction.id, Auction.seq).where(Auction.id.is_in(auction_ids))
    return {row["id"]: row["seq"] for row in rows}
