"""Code releases: publish a package (one-deploy on Flex, a package URL on Consumption), record the current
and previous digest in the site's tags (any machine reads them), and keep those packages on the machine that
published them, for `rollback` (ops.py).

`WEBSITE_RUN_FROM_PACKAGE` holds a read-only SAS URL: it lives in app settings only, never in state or logs.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from multicloud.provider import Progress
from multicloud.state import build_dir, read_state, write_state

from .arm import TAG_CODE, TAG_PREVIOUS, ArmSession, tags_of
from .drift import Record
from .publish import publish_zip, scm_client, scm_host, upload_blob

RUN_FROM_PACKAGE = "WEBSITE_RUN_FROM_PACKAGE"


def publish(s: ArmSession, site: Any, zip_path: Path, digest: str, previous: str | None,
            progress: Progress, tags: dict[str, str] | None = None) -> None:
    """Run `digest`'s package; the site's tags then say what runs and what ran before (`previous`), merged
    with `tags` (the drift record, when the code step carries it)."""
    if s.settings.plan == "flex":
        client = scm_client(s.credential, s.arm_scope, scm_host(site, s.app_name))
        publish_zip(client, zip_path, progress)
    else:
        _run_from_package_url(s, zip_path, digest, progress)
    merged = {**(tags or {}), TAG_CODE: digest, TAG_PREVIOUS: previous or ""}
    s.resources.tags.begin_update_at_scope(
        s.site_id().lstrip("/"), {"operation": "Merge", "properties": {"tags": merged}}).result()


def package_drift(s: ArmSession, settings: dict[str, str], digest: str) -> str:
    """On Consumption the app runs what WEBSITE_RUN_FROM_PACKAGE points at: a `drift: ...` detail when that is
    no longer the package of `digest` (compared without the URL's SAS, which is never shown)."""
    if s.settings.plan != "consumption":
        return ""
    url = settings.get(RUN_FROM_PACKAGE)
    if url is None:
        return f"drift: app setting {RUN_FROM_PACKAGE} was deleted outside multicloud"
    if not urlsplit(url).path.endswith(f"/{s.deploy_container}/{digest}.zip"):
        return f"drift: app setting {RUN_FROM_PACKAGE} changed outside multicloud"
    return ""


def recorded_previous(s: ArmSession, site: Any) -> str | None:
    """The release before the running one, as the site's tags record it; the state cache only for a site
    last published before that tag existed."""
    tags = tags_of(site)
    if TAG_PREVIOUS in tags:
        return tags[TAG_PREVIOUS] or None
    return read_state(s.project, "azure").get("previous")


def _sas(s: ArmSession, blob: str, permission: str, hours: int) -> str:
    expiry = (datetime.now(timezone.utc) + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = s.storage.storage_accounts.list_service_sas(s.resource_group, s.storage_account, {
        "canonicalizedResource": f"/blob/{s.storage_account}/{s.deploy_container}/{blob}",
        "signedResource": "b", "signedPermission": permission, "signedProtocol": "https", "signedExpiry": expiry})
    return str(result["serviceSasToken"])


def _run_from_package_url(s: ArmSession, zip_path: Path, digest: str, progress: Progress) -> None:
    """Linux Consumption has no one-deploy: upload the zip to the app's storage account and point
    WEBSITE_RUN_FROM_PACKAGE at it (read-only SAS), then have the platform sync its triggers."""
    rg, blob = s.resource_group, f"{digest}.zip"
    account = s.storage.storage_accounts.get_properties(rg, s.storage_account)
    base = f"{account.properties.primary_endpoints.blob.rstrip('/')}/{s.deploy_container}/{blob}"
    progress(f"uploading {zip_path.name} ({zip_path.stat().st_size} bytes) to {s.storage_account}")
    upload_blob(f"{base}?{_sas(s, blob, 'cw', 1)}", zip_path)
    settings = dict(s.web.web_apps.list_application_settings(rg, s.app_name).properties or {})
    settings[RUN_FROM_PACKAGE] = f"{base}?{_sas(s, blob, 'r', 24 * 365 * 10)}"
    s.web.web_apps.update_application_settings(rg, s.app_name, {"properties": settings})
    s.web.web_apps.sync_function_triggers(rg, s.app_name)


def releases_dir(s: ArmSession) -> Path:
    return build_dir(s.project, "azure") / "releases"


def remember(s: ArmSession, host: str, digest: str, previous: str | None, zip_path: Path | None,
             tags: Mapping[str, str] | None = None) -> None:
    """State (a cache): what runs now and what ran before, and the drift record the site's `tags` hold (for
    when the site is gone); keep those two packages for `rollback`."""
    releases = releases_dir(s)
    releases.mkdir(parents=True, exist_ok=True)
    if zip_path is not None and not (releases / f"{digest}.zip").exists():
        shutil.copyfile(zip_path, releases / f"{digest}.zip")
    for old in releases.glob("*.zip"):
        if old.stem not in (digest, previous):
            old.unlink()
    state = read_state(s.project, "azure")
    record = Record.of(tags, None).recorded if tags is not None else None
    text = " ".join(f"{k}={v}" for k, v in sorted(record.items())) if record else state.get("record")
    write_state(s.project, "azure", {"app": s.app_name, "resource_group": s.resource_group, "host": host,
                                     "digest": digest, "previous": previous, "subscription": s.subscription_id,
                                     "record": text})
