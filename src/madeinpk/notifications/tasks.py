"""Notification tasks, run by the Taskiq worker (or in-process on the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.broker import broker, task_settings
from madeinpk.notifications.mail import deliver, unsent_email_ids

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 30.0


@broker.task(task_name="madeinpk.send_email")
async def send_email(outbox_id: int, context: Annotated[Context, TaskiqDepends()]) -> bool:
    """Send one outbox email, retrying SMTP failures with exponential backoff.

    If every attempt fails the email stays in the outbox, unsent, for the periodic sweep.
    """
    settings = task_settings(context.state)
    for attempt in range(SEND_ATTEMPTS):
        try:
            return await deliver(outbox_id, settings)
        except Exception as exc:  # SMTP and network errors alike: the outbox keeps it unsent
            delay = min(2.0**attempt, MAX_BACKOFF_SECONDS)
            logger.warning("Email %s failed (attempt %s): %s", outbox_id, attempt + 1, exc)
            if attempt + 1 < SEND_ATTEMPTS:
                await asyncio.sleep(delay)
    return False


@broker.task(task_name="madeinpk.send_emails")
async def send_emails(outbox_ids: list[int], context: Annotated[Context, TaskiqDepends()]) -> int:
    """The emails one transaction queued (a batch of bids outbids several people): one task,
    each email retried on its own."""
    sent = await asyncio.gather(*(send_email(i, context) for i in outbox_ids))
    return sum(sent)


@broker.task(task_name="madeinpk.sweep_outbox", schedule=[{"interval": 30}])
async def sweep_outbox(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Re-send what every retry gave up on (or what a dead worker held). The claim in
    ``deliver`` keeps this from ever sending an email twice."""
    settings = task_settings(context.state)
    sent = 0
    for outbox_id in await unsent_email_ids():
        try:
            sent += await deliver(outbox_id, settings)
        except Exception as exc:
            logger.warning("Email %s still failing: %s", outbox_id, exc)
    return sent
