"""The pure part of azure drift: the shared record (multicloud/drift.py) in the site's tags, what deploy set
against what ARM reports, secret settings by their recorded hash, details that name settings but never show
their values, and the previous layout (multicloud-config / multicloud-fingerprints tags) read as no record."""

from __future__ import annotations

from multicloud import drift as core
from multicloud.providers.azure.drift import (
    ACCOUNT,
    PER_TAG,
    SETTING,
    SITE,
    TAG,
    UNKNOWN,
    Record,
    View,
    compare,
    items,
    label,
    secret_value,
    site_fields,
    stored,
)

SECRET = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S3CRET=="
ACCOUNT_ID = "acct@2026-01-01T00:00:00.0000000Z"
PLAIN = {"GREETING": "hello", "API_KEY": "@Microsoft.KeyVault(SecretUri=https://v/secrets/k)"}
SITE_WANT = {"httpsOnly": True, "ftpsState": "Disabled", "state": "Running", "tag managed-by": "multicloud"}
WANT = View({**PLAIN, "AzureWebJobsStorage": UNKNOWN}, SITE_WANT)
SECRETS = ["AzureWebJobsStorage"]


def deployed() -> Record:
    """The record a deploy of WANT with SECRET and ACCOUNT_ID makes, read back from the tags it writes."""
    made = core.Record(None)
    made.check(SETTING, {}, items({**PLAIN, "AzureWebJobsStorage": secret_value("AzureWebJobsStorage", SECRET)}))
    made.check(SITE, {}, items(SITE_WANT))
    made.check(ACCOUNT, {}, items({ACCOUNT: ACCOUNT_ID}))
    return Record.of({"multicloud-service": "orders", **Record.tags_of(made.entries)}, None)


def now(settings: dict[str, str] | None = None, site: dict[str, object] | None = None,
        account: str | None = ACCOUNT_ID) -> View:
    values = {**PLAIN, "AzureWebJobsStorage": SECRET} if settings is None else settings
    shown = {k: secret_value(k, v) if k in SECRETS else v for k, v in values.items()}
    return View(shown, {**SITE_WANT, **(site or {})}, account)


def test_as_deployed_is_no_drift() -> None:
    diff = compare(deployed(), WANT, now(), SECRETS)
    assert not diff.any and label(diff.drift) == ""


def test_settings_edited_and_deleted_are_named_without_values() -> None:
    edited = {"GREETING": "hand-edited", "AzureWebJobsStorage": SECRET.replace("S3CRET", "OTHER")}
    diff = compare(deployed(), WANT, now(edited), SECRETS)
    assert diff.drift == ["app settings AzureWebJobsStorage, GREETING changed outside multicloud",
                          "app setting API_KEY was deleted outside multicloud"]
    assert sorted(diff.settings) == ["API_KEY", "AzureWebJobsStorage", "GREETING"] and diff.site == []
    assert not any(secret in " ".join(diff.drift) for secret in ("hand-edited", "OTHER", "S3CRET", "KeyVault"))


def test_a_spec_change_is_no_drift() -> None:
    want = View({**WANT.settings, "GREETING": "bonjour"}, WANT.site)
    diff = compare(deployed(), want, now(), SECRETS)
    assert diff.settings == ["GREETING"] and diff.drift == []


def test_without_a_record_nothing_is_drift_and_secrets_compare_by_presence() -> None:
    """The previous layout: its tags are not a record, so no difference is called drift."""
    old = Record.of({"multicloud-config": "0123456789abcdef", "multicloud-fingerprints": "1a2b3c4d 5e6f7a8b"}, None)
    assert old.recorded is None
    diff = compare(old, WANT, now({"GREETING": "hand-edited", "AzureWebJobsStorage": "anything"},
                                  {"state": "Stopped"}), SECRETS)
    assert diff.drift == [] and sorted(diff.settings) == ["API_KEY", "GREETING"] and diff.site == ["state"]
    assert compare(old, WANT, now(dict(PLAIN)), SECRETS).settings == ["AzureWebJobsStorage"]


def test_a_recreated_storage_account_is_drift_even_with_the_same_setting() -> None:
    diff = compare(deployed(), WANT, now(account="acct@2026-02-02T00:00:00.0000000Z"), SECRETS)
    assert diff.drift == ["the storage account was recreated outside multicloud (new keys)"]
    assert diff.settings == [ACCOUNT]


def test_state_site_fields_and_tags() -> None:
    diff = compare(deployed(), WANT, now(site={"state": "Stopped", "httpsOnly": False, "tag managed-by": "me"}),
                   SECRETS)
    assert label(diff.drift) == ("drift: httpsOnly of the function app changed outside multicloud; tag managed-by "
                                 "of the function app changed outside multicloud; the function app is Stopped")
    assert sorted(diff.site) == ["httpsOnly", "state", "tag managed-by"]


def test_the_record_spans_tags_and_a_shorter_one_empties_the_rest() -> None:
    made = core.Record(None)
    made.check(SETTING, {}, items({f"S{i}": str(i) for i in range(PER_TAG + 3)}))
    tags = Record.tags_of(made.entries)
    assert list(tags) == [TAG, f"{TAG}-2"] and all(len(v) <= 256 for v in tags.values())
    assert Record.of(tags, None).recorded == made.made
    short = core.Record(None)
    short.check(SETTING, {}, items({"S0": "0"}))
    assert Record.tags_of(short.entries, tags)[f"{TAG}-2"] == ""
    assert Record.of({**tags, **Record.tags_of(short.entries, tags)}, None).recorded == short.made
    assert stored({"multicloud-records": "x", f"{TAG}-x": "y", TAG: "z"}) == {TAG: "z"}


def test_the_state_cache_serves_when_the_site_is_gone() -> None:
    text = " ".join(f"{k}={v}" for k, v in sorted((deployed().recorded or {}).items()))
    assert Record.of(None, text).recorded == deployed().recorded


def test_site_fields_read_the_same_from_a_put_body_and_a_get_answer() -> None:
    body = {"properties": {"httpsOnly": True, "siteConfig": {"appSettings": [{"name": "A", "value": SECRET}],
                                                             "minTlsVersion": "1.2", "ftpsState": "Disabled"},
                           "functionAppConfig": {"runtime": {"name": "python", "version": "3.11"}}}}
    assert site_fields(body) == {"httpsOnly": True, "minTlsVersion": "1.2", "ftpsState": "Disabled",
                                 "runtime": "python", "runtime version": "3.11"}
    assert site_fields({"properties": {"siteConfig": {"minTlsVersion": None}}}) == {}


def test_secret_values_are_hashed() -> None:
    value = secret_value("AzureWebJobsStorage", SECRET)
    assert "S3CRET" not in value and value.startswith("sha256:") and len(value) == 19
