"""Which language to write to a user in: the ``language`` of their profile (English when they
have no profile, as staff made with ``piccolo user create``). Domains above accounts read it
here when they write a notice or an email to someone who is not the caller."""

from __future__ import annotations

from collections.abc import Iterable

from madeinpk.accounts.tables import UserProfile
from madeinpk.notifications.texts import Language, as_language


async def languages_of(user_ids: Iterable[int]) -> dict[int, Language]:
    """Each user's language; a user without a profile reads English."""
    wanted = sorted(set(user_ids))
    found: dict[int, Language] = {}
    if wanted:
        rows = await UserProfile.select(UserProfile.user, UserProfile.language).where(
            UserProfile.user.is_in(wanted)
        )
        found = {r["user"]: as_language(r["language"]) for r in rows}
    return {user_id: found.get(user_id, Language.en) for user_id in wanted}


async def language_of(user_id: int) -> Language:
    return (await languages_of([user_id]))[user_id]
