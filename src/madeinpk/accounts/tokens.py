"""Login keys: 160 random bits shown to the client once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from madeinpk.accounts.tables import AuthToken
from madeinpk.settings import Settings
from madeinpk.timestamps import utc_now


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue_token(user_id: int, settings: Settings) -> str:
    key = secrets.token_hex(20)
    now = utc_now()
    await AuthToken.insert(
        AuthToken(
            key_hash=hash_key(key),
            user=user_id,
            created_at=now,
            expires_at=now + timedelta(days=settings.token_ttl_days),
        )
    )
    return key


async def revoke_token(key: str) -> None:
    await AuthToken.delete().where(AuthToken.key_hash == hash_key(key))
