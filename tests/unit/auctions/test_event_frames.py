"""The channel message of a batch: its events as ``seq`` / payload lines, read back in order."""

from __future__ import annotations

import msgspec
import pytest

from madeinpk.auctions.events import decode_frames, frames


def test_a_batch_travels_as_one_message_and_comes_back_in_order() -> None:
    payloads = [
        msgspec.json.encode({"type": "new_bid", "data": {"amount": "2875.00", "seq": 7}}),
        msgspec.json.encode({"type": "new_bid", "note": "line one\nline two"}),  # escaped
        msgspec.json.encode({"type": "auction_extended", "data": {"seq": 9}}),
    ]
    events = list(zip([7, 8, 9], payloads, strict=True))
    assert decode_frames(frames(events, 1764505200.25)) == (events, 1764505200.25)


def test_a_frame_without_its_commit_time_is_still_read() -> None:
    assert frames([(3, b"{}")], 12.5) == b"3 12.500000\n{}"
    assert decode_frames(b"3\n{}") == ([(3, b"{}")], None)


@pytest.mark.parametrize("raw", [b"", b"3", b"x\n{}", b"1\n{}\n2", b"1 soon\n{}"])
def test_a_malformed_message_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        decode_frames(raw)
