"""CloudWatch Logs for the service's functions: since a time, and follow (poll every second)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timezone

from multicloud.project import Project
from multicloud.provider import LogRecord

from .clients import Aws
from .context import is_not_found
from .names import Names
from .settings import AwsSettings

POLL_SECONDS = 1.0


def logs(aws: Aws, project: Project, settings: AwsSettings, function: str | None, since: datetime | None,
         follow: bool) -> Iterator[LogRecord]:
    fns = [project.function("aws", function)] if function else project.functions_for("aws")
    groups = {Names(project.name, settings.stage, f.name).log_group: f.name for f in fns}
    client = aws.client("logs")
    start = int(since.timestamp() * 1000) if since else 0
    seen: set[str] = set()
    while True:
        batch: list[tuple[int, str, LogRecord]] = []
        for group, fname in groups.items():
            kwargs = {"logGroupName": group, "startTime": start}
            try:
                for page in client.get_paginator("filter_log_events").paginate(**kwargs):
                    for ev in page.get("events", []):
                        key = f"{group}/{ev.get('eventId') or (ev['logStreamName'], ev['timestamp'], ev['message'])}"
                        if key in seen:
                            continue
                        seen.add(key)
                        when = datetime.fromtimestamp(ev["timestamp"] / 1000, tz=timezone.utc)
                        batch.append((ev["timestamp"], key, LogRecord(when, fname, ev["message"].rstrip("\n"))))
            except Exception as exc:
                if not is_not_found(exc):  # no group yet: the function has not run
                    raise
        batch.sort(key=lambda item: (item[0], item[1]))
        for _, _, record in batch:
            yield record
        if not follow:
            return
        if batch:
            start = max(start, batch[-1][0])
        time.sleep(POLL_SECONDS)
