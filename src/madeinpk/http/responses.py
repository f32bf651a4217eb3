"""Bodies shared by every domain's endpoints."""

from __future__ import annotations

import msgspec


class Message(msgspec.Struct):
    """``{"message": "…"}``: the answer of an action that returns nothing else."""

    message: str
