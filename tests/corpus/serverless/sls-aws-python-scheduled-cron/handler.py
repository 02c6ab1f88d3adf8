"""Scheduled function (rate and cron): logs when it ran and which rule fired it."""

import datetime
import logging

logger = logging.getLogger()
logger.setLevel(logging.INFO)


def run(event, context):
    now = datetime.datetime.now(datetime.timezone.utc)
    rules = event.get("resources") or ["(invoked directly)"]
    logger.info("%s ran at %s for %s", getattr(context, "function_name", "cron"), now.isoformat(), rules[0])
    return {"ranAt": now.isoformat()}
