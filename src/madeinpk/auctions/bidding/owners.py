"""One deciding process per auction, in the production topology.

Why: two processes deciding the same auction halve each other's batches and take turns on its
row, so a second app process made a hot auction slower (docs/scaling.md). Here the process that
holds an auction's lease in Redis decides all of its bids; the others forward theirs to it over
the channels backend (one Redis, or sharded pub/sub on a cluster) and pass its answer back. An
auction's batches are then as large as on one process, it has one writer and one publisher, and
different auctions spread over the processes: the first process that sees a bid on an auction
nobody holds takes it.

Correctness never rests on the lease. The owner writes as every process does, on condition that
the row still holds what it judged or under the row lock, so a process that lost its lease in a
pause and still writes is stopped by the row, not by Redis; whenever the lease cannot be read
(Redis down), a process decides its own bids. A forward is sent once and never again, so no bid
is decided twice: the owner refuses, undecided, a forwarded bid it did not start deciding
within ``START_WITHIN`` of its sending, and the forwarder waits ``ANSWER_WITHIN`` for the answer,
then decides that auction's bids itself until the lease changes hands. A bid with an
idempotency key is then decided here with its key, which answers the owner's outcome if the
owner recorded it before going silent (the key is stored with the decision, once). A bid without
a key is answered ``internal`` ("could not be processed"): only such a bid, whose batch was being
written when its owner died (or stalled for seconds), can be recorded while its bidder heard
``internal``, and the auction's events show whether it was.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import replace

import msgspec
from litestar.channels import ChannelsPlugin, Subscriber
from redis.exceptions import RedisError

from madeinpk.after_commit import Effects
from madeinpk.auctions.bidding.desk import BidDesk, BidRequest
from madeinpk.auctions.bidding.refusals import Reason, refusal
from madeinpk.auctions.bidding.rules import Increments, Outcome
from madeinpk.auctions.lifecycle.purchases import Purchases
from madeinpk.observability import metrics
from madeinpk.redis_io.redis_topology import AsyncRedis

logger = logging.getLogger(__name__)

# A forwarded bid not started within this many seconds of its sending is refused undecided.
START_WITHIN = 2.0
# How long a forwarder waits for the owner's answer: the start window and a batch's write.
ANSWER_WITHIN = 5.0
# How long a process takes what the lease said of another owner on trust before asking again.
TRUST_OTHER_OWNER = 0.5

# Past this many auctions remembered, those without a bid for a lease's life are forgotten.
FORGET_PAST = 4096
# How long asking Redis for a lease may take before the process decides the bid itself.
ASK_WITHIN = 1.0

# Extend the lease only while it is still this process's (a compare-and-set, atomic in Redis).
_RENEW = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""


def process_name() -> str:
    """Unique per process start: a restarted process never answers its predecessor's forwards."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class OwnerLeases:
    """Who decides an auction's bids: ``SET <prefix>:auction-owner:<id> <process> NX PX``.

    The lease is taken by the first process that sees a bid on a free auction, renewed every
    quarter of its life while the auction has bids, and let go when it has none; a process
    counts it as its own only until three quarters of its life have passed since it last set
    it, so a late renewal makes it ask, never assume."""

    def __init__(self, redis: AsyncRedis, key_prefix: str, me: str, lease_seconds: float) -> None:
        self.redis = redis
        self.key_prefix = key_prefix
        self.me = me
        self.lease_seconds = lease_seconds
        self._lease_ms = max(1, round(lease_seconds * 1000))
        self._held: dict[int, float] = {}  # auction -> ours until (monotonic)
        self._others: dict[int, tuple[str | None, float]] = {}  # auction -> (owner, trust until)
        self._busy: dict[int, float] = {}  # auction -> when this process last saw a bid on it
        self._asking: dict[int, asyncio.Future[str | None]] = {}
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)
        self._renewer: asyncio.Task[None] | None = None

    def key(self, auction_id: int) -> str:
        return f"{self.key_prefix}:auction-owner:{auction_id}"

    async def owner(self, auction_id: int) -> str | None:
        """This process's name, another's, or ``None``: decide here (the lease could not be
        read, or the owner did not answer)."""
        now = time.monotonic()
        if len(self._busy) >= FORGET_PAST:
            self._forget_quiet(now)
        self._busy[auction_id] = now
        if self._held.get(auction_id, 0.0) > now:
            return self.me
        other = self._others.get(auction_id)
        if other is not None and other[1] > now:
            return other[0]
        # Bids that arrive together on a free auction ask Redis once between them.
        asking = self._asking.get(auction_id)
        if asking is not None:
            try:
                return await asyncio.shield(asking)
            except asyncio.CancelledError:
                if asking.cancelled():  # the asker went away, not this bid: decide here
                    return None
                raise
        asking = asyncio.get_running_loop().create_future()
        self._asking[auction_id] = asking
        try:
            owner = await self._ask(auction_id, now)
        except BaseException:
            asking.cancel()
            raise
        finally:
            del self._asking[auction_id]
        asking.set_result(owner)
        return owner

    async def _ask(self, auction_id: int, asked_at: float) -> str | None:
        try:
            previous = await asyncio.wait_for(
                self.redis.set(self.key(auction_id), self.me, nx=True, px=self._lease_ms, get=True),
                ASK_WITHIN,
            )
        except (RedisError, OSError, TimeoutError):
            logger.warning("Lease of auction %s unreadable: deciding its bids here", auction_id)
            self._others[auction_id] = (None, asked_at + TRUST_OTHER_OWNER)
            return None
        if previous is None:
            self._hold(auction_id, asked_at)
            return self.me
        owner = previous.decode() if isinstance(previous, bytes) else str(previous)
        if owner == self.me:  # ours still, though we had stopped counting on it
            self._hold(auction_id, asked_at, until=asked_at + TRUST_OTHER_OWNER)
            return self.me
        self._others[auction_id] = (owner, asked_at + TRUST_OTHER_OWNER)
        return owner

    def _hold(self, auction_id: int, set_at: float, until: float | None = None) -> None:
        self._held[auction_id] = until or set_at + self.lease_seconds * 0.75
        self._others.pop(auction_id, None)
        if self._renewer is None or self._renewer.done():
            self._renewer = asyncio.create_task(self._keep_renewed())

    def _forget_quiet(self, now: float) -> None:
        """What this process remembers of auctions that have gone quiet: a long-lived process
        sees many auctions, and only the ones with bids need remembering."""
        quiet = now - self.lease_seconds
        self._busy = {a: t for a, t in self._busy.items() if t > quiet or a in self._held}
        self._others = {a: o for a, o in self._others.items() if o[1] > now}

    def saw_bid(self, auction_id: int) -> None:
        """An auction with bids keeps its lease; one without lets it go after a lease's life."""
        self._busy[auction_id] = time.monotonic()

    def distrust(self, auction_id: int, owner: str) -> None:
        """``owner`` did not answer: decide the auction here until its lease has run out."""
        self._others[auction_id] = (None, time.monotonic() + self.lease_seconds)
        logger.warning("Owner %s of auction %s did not answer: deciding here", owner, auction_id)

    async def _keep_renewed(self) -> None:
        while self._held:
            await asyncio.sleep(self.lease_seconds / 4)
            try:
                await self._renew_held()
            except (RedisError, OSError) as exc:  # the leases lapse; everyone decides its own
                logger.warning("Auction leases not renewed (%s)", exc)
            except Exception:
                logger.exception("Auction leases not renewed")

    async def _renew_held(self) -> None:
        now = time.monotonic()
        idle = [a for a in self._held if now - self._busy.get(a, 0.0) > self.lease_seconds]
        for auction_id in idle:  # nothing to decide: let another process have it at once
            del self._held[auction_id]
            self._busy.pop(auction_id, None)
        if idle:
            with contextlib.suppress(RedisError, OSError):
                await self._let_go(idle)
        auctions = list(self._held)
        if not auctions:
            return
        results = await asyncio.gather(
            *(self._renew(keys=[self.key(a)], args=[self.me, self._lease_ms]) for a in auctions)
        )
        for auction_id, renewed in zip(auctions, results, strict=True):
            if renewed:
                self._held[auction_id] = now + self.lease_seconds * 0.75
            else:  # taken by another process while ours had run out
                self._held.pop(auction_id, None)

    async def _let_go(self, auctions: list[int]) -> None:
        await asyncio.gather(*(self._release(keys=[self.key(a)], args=[self.me]) for a in auctions))

    async def release_all(self) -> None:
        """Shutdown: hand every lease back, so the other processes take over without waiting."""
        if self._renewer is not None:
            self._renewer.cancel()
        held, self._held = list(self._held), {}
        if held:
            with contextlib.suppress(RedisError, OSError):
                await self._let_go(held)


class _Forward(msgspec.Struct, frozen=True, tag="bids"):
    sender: str
    bids: list[tuple[int, BidRequest]]


class _Answers(msgspec.Struct, frozen=True, tag="answers"):
    answers: list[tuple[int, Outcome]]


_encoder = msgspec.json.Encoder(decimal_format="string")
_decoder = msgspec.json.Decoder(_Forward | _Answers)


class OwnedBidDesk(BidDesk):
    """A bid desk that decides only its own auctions' bids and forwards the rest to their
    owner; what the owner answers is what the bidder hears."""

    def __init__(
        self,
        effects: Effects,
        increments: Increments,
        *,
        leases: OwnerLeases,
        channels: ChannelsPlugin,
        channel_prefix: str,
        subscription_lock: asyncio.Lock,
        purchases: Purchases | None = None,
    ) -> None:
        super().__init__(effects, increments, purchases=purchases)
        self.leases = leases
        self.channels = channels
        self.channel_prefix = channel_prefix
        self.subscription_lock = subscription_lock
        self._ids = itertools.count(1)
        self._waiting: dict[int, asyncio.Future[Outcome]] = {}
        self._outbox: dict[str, list[tuple[int, BidRequest]]] = {}
        self._replies: dict[str, list[tuple[int, Outcome]]] = {}
        self._flushing = False
        self._listener: asyncio.Task[None] | None = None
        self._listening = asyncio.Lock()

    def inbox(self, process: str) -> str:
        return f"{self.channel_prefix}:bid-desk:{process}"

    async def place(self, request: BidRequest) -> Outcome:
        # Listening before any lease is taken: nobody forwards to a process that cannot hear.
        if self._listener is None:
            await self._listen()
        owner = await self.leases.owner(request.auction_id)
        if owner is None or owner == self.leases.me:
            return await super().place(request)
        return await self._forward(owner, request)

    async def hand_over(self) -> None:
        """Shutdown, while the channels still work: give the leases back, then keep deciding
        what others forwarded before they noticed, for as long as they trust the old owner."""
        await self.leases.release_all()
        await asyncio.sleep(TRUST_OTHER_OWNER + 0.1)
        await self.drain()

    async def _forward(self, owner: str, request: BidRequest) -> Outcome:
        ident = next(self._ids)
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        self._waiting[ident] = future
        late = replace(request, not_after=time.time() + START_WITHIN)
        self._outbox.setdefault(owner, []).append((ident, late))
        self._flush_soon()
        try:
            outcome = await asyncio.wait_for(future, ANSWER_WITHIN)
        except TimeoutError:
            metrics.record_bid_forwarded("unanswered")
            self.leases.distrust(request.auction_id, owner)
            if request.key is None:
                return refusal(Reason.internal)
            # With a key the bid is decided once whoever asks: here, it gets the owner's
            # outcome if the owner recorded it before going silent, or is decided now.
            return await super().place(request)
        finally:
            self._waiting.pop(ident, None)
        metrics.record_bid_forwarded("answered")
        return outcome

    def _flush_soon(self) -> None:
        """Everything queued in this turn of the event loop goes in one message per process."""
        if not self._flushing:
            self._flushing = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flushing = False
        outbox, self._outbox = self._outbox, {}
        replies, self._replies = self._replies, {}
        for owner, bids in outbox.items():
            self._publish(_Forward(self.leases.me, bids), owner)
        for sender, answers in replies.items():
            self._publish(_Answers(answers), sender)

    def _publish(self, message: _Forward | _Answers, process: str) -> None:
        try:
            self.channels.publish(_encoder.encode(message), [self.inbox(process)])
        except Exception:  # the waiting side times out and says so
            logger.exception("Bid desk message to %s not sent", process)

    async def _listen(self) -> None:
        async with self._listening:
            if self._listener is not None:
                return
            async with self.subscription_lock:
                subscriber = await self.channels.subscribe(self.inbox(self.leases.me))
            self._listener = asyncio.create_task(self._receive(subscriber))

    async def _receive(self, subscriber: Subscriber) -> None:
        async for raw in subscriber.iter_events():
            try:
                message = _decoder.decode(raw)
            except msgspec.DecodeError:
                logger.warning("Dropping a malformed bid desk message")
                continue
            if isinstance(message, _Answers):
                for ident, outcome in message.answers:
                    waiting = self._waiting.get(ident)
                    if waiting is not None and not waiting.done():
                        waiting.set_result(outcome)
                continue
            for ident, request in message.bids:
                # Decided here even if the lease has moved on meanwhile: the row keeps it
                # right, and a forward is never passed on again.
                self.leases.saw_bid(request.auction_id)  # forwarded bids keep it busy too
                decided = self.submit(request)
                decided.add_done_callback(self._answer_later(message.sender, ident))

    def _answer_later(self, sender: str, ident: int) -> Callable[[asyncio.Future[Outcome]], None]:
        def answer(decided: asyncio.Future[Outcome]) -> None:
            outcome = decided.result() if not decided.cancelled() else refusal(Reason.internal)
            self._replies.setdefault(sender, []).append((ident, outcome))
            self._flush_soon()

        return answer
