"""One socket watching one auction (``hub.LiveAuctions`` keeps them): its bounded backlog, the
answers it holds until their own event has been queued, and each frame written straight to its
transport (``lean_websockets``) or through the ASGI send, run synchronously."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, cast

from litestar import WebSocket

from madeinpk.http.websocket import FRAME_WRITER, text_frame

logger = logging.getLogger(__name__)

# How long an answer waits for the event it follows before it is sent anyway (a lost publish).
REPLY_WAIT = 1.0


def _write_now(coro: Coroutine[Any, Any, None]) -> Any:
    """Run an ASGI send until it finishes or first waits. Returns ``_DONE`` when it finished
    (the usual case: the frame went into the transport), else what it waits on."""
    try:
        return coro.send(None)
    except StopIteration:
        return _DONE


_DONE = object()


async def _finish(coro: Coroutine[Any, Any, None], waiting: Any) -> None:
    """Carry on a send that ``_write_now`` started and that had to wait."""
    while True:
        try:
            if waiting is None:  # a bare yield: give the loop a turn
                await asyncio.sleep(0)
            else:
                # What a Task does with a future its coroutine yields, before waiting on it.
                waiting._asyncio_future_blocking = False
                await waiting
        except asyncio.CancelledError:
            coro.close()
            raise
        except Exception:
            pass  # the send sees the same outcome when it resumes
        waiting = _write_now(coro)
        if waiting is _DONE:
            return


class Watcher:
    """One socket watching one auction."""

    __slots__ = (
        "_backlog",
        "_flusher",
        "_held",
        "_write_frame",
        "auction_id",
        "closed",
        "min_seq",
        "queued_seq",
        "socket",
    )

    def __init__(self, auction_id: int, socket: WebSocket[Any, Any, Any]) -> None:
        self.auction_id = auction_id
        self.socket = socket
        self.min_seq: int | None = None  # set once the snapshot is sent; None means "hold"
        self.queued_seq = 0  # the highest event seq this watcher has been given
        self.closed = False
        # Created only when needed: most watchers never hold anything (memory per watcher).
        self._backlog: list[tuple[int | None, str]] | None = None
        self._held: list[tuple[int, str]] | None = None  # answers waiting for their event
        self._flusher: asyncio.Task[None] | None = None
        extensions = getattr(socket, "scope", {}).get("extensions") or {}
        self._write_frame: Callable[[bytes], bool] | None = extensions.get(FRAME_WRITER)

    def offer(
        self, seq: int | None, text: str, max_backlog: int, frame: bytes | None = None
    ) -> bool:
        """Queue or write one frame; False when the backlog is full (the watcher is too slow)."""
        if self.closed:
            return True
        if seq is not None and self.min_seq is not None and seq <= self.min_seq:
            return True  # already part of the snapshot this watcher was sent
        if self.min_seq is None or self._flusher is not None:
            backlog = self._backlog if self._backlog is not None else []
            if len(backlog) >= max_backlog:
                return False
            backlog.append((seq, text))
            self._backlog = backlog
        else:
            self._write(text, frame)
        if seq is not None and seq > self.queued_seq:
            self.queued_seq = seq
            self._release_held(seq)
        return True

    def offer_run(
        self, events: list[tuple[int, str]], frames: list[bytes], joined: bytes, max_backlog: int
    ) -> bool:
        """Consecutive events at once (``joined``: their frames end to end): one write (one
        system call) when the watcher can take them all straight away, else one by one as
        ``offer``."""
        if (
            self.closed
            or self.min_seq is None
            or self._flusher is not None
            or self._write_frame is None
            or events[0][0] <= self.min_seq
            or not self._write_frame(joined)
        ):
            return all(
                self.offer(seq, text, max_backlog, frame)
                for (seq, text), frame in zip(events, frames, strict=True)
            )
        last = events[-1][0]
        if last > self.queued_seq:
            self.queued_seq = last
            self._release_held(last)
        return True

    def reply(self, text: str) -> None:
        """An answer to this socket's own message, after whatever already waits for it."""
        if not self.closed:
            self._push(text)

    def reply_after(self, seq: int, text: str) -> None:
        """Send ``text`` to this socket once event ``seq`` has been queued to it."""
        if self.closed:
            return
        if seq <= max(self.queued_seq, self.min_seq or 0):
            self._push(text)
            return
        self._held = [*(self._held or ()), (seq, text)]
        asyncio.get_running_loop().call_later(REPLY_WAIT, self._release_held, seq)

    def _release_held(self, upto: int) -> None:
        if not self._held or self.closed:
            return
        ready = [text for seq, text in self._held if seq <= upto]
        self._held = [(seq, text) for seq, text in self._held if seq > upto] or None
        for text in ready:
            self._push(text)

    def _push(self, text: str) -> None:
        """An answer: after whatever is already waiting, never dropped for the backlog bound."""
        if self.min_seq is None or self._flusher is not None:
            self._backlog = [*(self._backlog or ()), (None, text)]
        else:
            self._write(text)

    def ready(self, snapshot_seq: int) -> None:
        self.min_seq = snapshot_seq
        self.queued_seq = max(self.queued_seq, snapshot_seq)
        self._flush()

    def _write(self, text: str, frame: bytes | None = None) -> None:
        if self.closed:
            return
        if self._write_frame is not None and self._write_frame(
            frame if frame is not None else text_frame(text.encode())
        ):
            return
        coro = cast(
            Coroutine[Any, Any, None],
            self.socket.send({"type": "websocket.send", "text": text, "bytes": None}),
        )
        try:
            waiting = _write_now(coro)
        except Exception:  # the socket went away mid-send; its receive loop cleans up
            self.closed = True
            return
        if waiting is not _DONE:  # the transport buffer is full: finish in the background
            self._flusher = asyncio.create_task(self._drain(coro, waiting))

    def _flush(self) -> None:
        """Write what waited, until a write has to wait itself."""
        while self._backlog and self._flusher is None and not self.closed:
            seq, text = self._backlog.pop(0)
            if seq is not None and self.min_seq is not None and seq <= self.min_seq:
                continue
            self._write(text)
        if not self._backlog:
            self._backlog = None

    async def _drain(self, coro: Coroutine[Any, Any, None], waiting: Any) -> None:
        try:
            await _finish(coro, waiting)
            while self._backlog and not self.closed:
                seq, text = self._backlog.pop(0)
                if seq is not None and self.min_seq is not None and seq <= self.min_seq:
                    continue
                await self.socket.send({"type": "websocket.send", "text": text, "bytes": None})
        except Exception:  # the socket went away mid-send; its receive loop cleans up
            self.closed = True
        finally:
            self._flusher = None
            if not self._backlog:
                self._backlog = None

    async def close(self, code: int, reason: str) -> None:
        self.closed = True
        self._backlog = None
        try:
            await self.socket.close(code=code, reason=reason)
        except Exception:
            logger.debug("Closing a watcher that already left", exc_info=True)

    def stop(self) -> None:
        self.closed = True
        self._backlog = None
        self._held = None
        if self._flusher is not None:
            self._flusher.cancel()
