"""The pure part of azure drift: what deploy set on the site against what ARM reports, secret settings by
their recorded fingerprint, and details that name settings but never show their values."""

from __future__ import annotations

from multicloud.providers.azure.drift import (
    TAG_FINGERPRINTS,
    Actual,
    Wanted,
    fingerprint,
    fingerprints,
    label,
    recorded,
    site_drift,
    site_fields,
)

SECRET = "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=S3CRET=="
ACCOUNT = "acct@2026-01-01T00:00:00.0000000Z"
WANT = Wanted(settings={"GREETING": "hello", "API_KEY": "@Microsoft.KeyVault(SecretUri=https://v/secrets/k)"},
              secrets=["AzureWebJobsStorage"], site={"httpsOnly": True, "ftpsState": "Disabled"},
              tags={"multicloud-service": "orders", "managed-by": "multicloud"})
TAGS = {**WANT.tags, TAG_FINGERPRINTS: fingerprints({"AzureWebJobsStorage": SECRET}, ACCOUNT)}


def actual(settings: dict[str, str] | None = None, state: str = "Running", site: dict[str, object] | None = None,
           tags: dict[str, str] | None = None, account: str | None = ACCOUNT) -> Actual:
    now = {**WANT.settings, "AzureWebJobsStorage": SECRET, "SET_ELSEWHERE": "x"} if settings is None else settings
    return Actual(now, state, dict(WANT.site) if site is None else site, TAGS if tags is None else tags, account)


def test_as_deployed_is_no_drift_and_foreign_settings_are_not_ours() -> None:
    assert site_drift(WANT, actual()) == []
    assert label([]) == ""


def test_settings_edited_and_deleted_are_named_without_values() -> None:
    now = {"GREETING": "hand-edited", "AzureWebJobsStorage": SECRET.replace("S3CRET", "OTHER")}
    phrases = site_drift(WANT, actual(now))
    assert phrases == ["app settings AzureWebJobsStorage, GREETING changed outside multicloud",
                       "app setting API_KEY was deleted outside multicloud"]
    assert not any(secret in " ".join(phrases) for secret in ("hand-edited", "OTHER", "S3CRET", "KeyVault"))


def test_secret_settings_without_a_record_compare_by_presence() -> None:
    bare = {k: v for k, v in TAGS.items() if k != TAG_FINGERPRINTS}
    now = {**WANT.settings, "AzureWebJobsStorage": "anything"}
    assert recorded(bare) is None
    assert site_drift(WANT, actual(now, tags=bare)) == []
    assert site_drift(WANT, actual(dict(WANT.settings), tags=bare)) == \
        ["app setting AzureWebJobsStorage was deleted outside multicloud"]


def test_a_recreated_storage_account_is_drift_even_with_the_same_setting() -> None:
    assert site_drift(WANT, actual(account="acct@2026-02-02T00:00:00.0000000Z")) == \
        ["the storage account was recreated outside multicloud (new keys)"]


def test_state_site_fields_and_tags() -> None:
    phrases = site_drift(WANT, actual(state="Stopped", site={"httpsOnly": False, "ftpsState": "Disabled"},
                                      tags={**TAGS, "managed-by": "me"}))
    assert label(phrases) == ("drift: httpsOnly of the function app changed outside multicloud; tag managed-by of "
                              "the function app changed outside multicloud; the function app is Stopped")


def test_site_fields_read_the_same_from_a_put_body_and_a_get_answer() -> None:
    body = {"properties": {"httpsOnly": True, "siteConfig": {"appSettings": [{"name": "A", "value": SECRET}],
                                                             "minTlsVersion": "1.2", "ftpsState": "Disabled"},
                           "functionAppConfig": {"runtime": {"name": "python", "version": "3.11"}}}}
    assert site_fields(body) == {"httpsOnly": True, "minTlsVersion": "1.2", "ftpsState": "Disabled",
                                 "runtime": "python", "runtime version": "3.11"}
    assert site_fields({"properties": {"siteConfig": {"minTlsVersion": None}}}) == {}


def test_fingerprints_do_not_contain_the_value() -> None:
    value = fingerprints({"AzureWebJobsStorage": SECRET}, ACCOUNT)
    assert "S3CRET" not in value and len(value.split()) == 2
    assert fingerprint("AzureWebJobsStorage", SECRET) in recorded({TAG_FINGERPRINTS: value})  # type: ignore[operator]
