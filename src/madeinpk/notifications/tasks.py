"""Notification tasks, run by the Taskiq worker (or in-process on the embedded default)."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from taskiq import Context, TaskiqDepends

from madeinpk.broker import task, task_settings
from madeinpk.notifications.mail import deliver, unsent_email_ids

logger = logging.getLogger(__name__)

SEND_ATTEMPTS = 5
MAX_BACKOFF_SECONDS = 30.0


@task("madeinpk.send_emails")
async def send_emails(outbox_ids: list[int], context: Annotated[Context, TaskiqDepends()]) -> int:
    """Send the emails one transaction queued, retrying failures with exponential backoff.

    What every attempt fails to send stays in the outbox, unsent, for the periodic sweep.
    """
    settings = task_settings(context.state)
    pending, sent = list(outbox_ids), 0
    for attempt in range(SEND_ATTEMPTS):
        try:
            delivery = await deliver(pending, settings)
        except Exception as exc:  # the database itself: the sweep will try again
            logger.warning("Emails %s not delivered: %s", pending, exc)
            return sent
        sent += delivery.sent
        for outbox_id, error in delivery.failed.items():
            logger.warning("Email %s failed (attempt %s): %s", outbox_id, attempt + 1, error)
        pending = list(delivery.failed)
        if not pending:
            break
        if attempt + 1 < SEND_ATTEMPTS:
            await asyncio.sleep(min(2.0**attempt, MAX_BACKOFF_SECONDS))
    return sent


@task("madeinpk.sweep_outbox", schedule=[{"interval": 30}])
async def sweep_outbox(context: Annotated[Context, TaskiqDepends()]) -> int:
    """Re-send what every retry gave up on (or what a dead worker held). The claim in
    ``deliver`` keeps this from ever sending an email twice."""
    settings = task_settings(context.state)
    ids = await unsent_email_ids()
    if not ids:
        return 0
    delivery = await deliver(ids, settings)
    for outbox_id, exc in delivery.failed.items():
        logger.warning("Email %s still failing: %s", outbox_id, exc)
    return delivery.sent
