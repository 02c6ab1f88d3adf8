"""Drift on azure: tell a change made by hand on the function app from a change of the spec (pure, no SDK).

The site's tag `multicloud-config` is the hash of what the spec wants; while it still matches, the spec has
not changed since the last deploy, so anything ARM reports unlike what deploy sets was changed outside
multicloud: an app setting edited or deleted, the app stopped, httpsOnly / TLS / FTPS / the Flex runtime
or scale / the Linux runtime / a tag changed. Plain settings compare by value. Secret-valued settings
(storage and Event Hubs connection strings) cannot be known at plan time without reading keys, so each
deploy records a fingerprint of them in the site's tag `multicloud-fingerprints` (eight hex digits of a hash
of name and value: nothing of a key can be read back from it) together with the identity of the storage
account it took the keys from, so a recreated account (new keys) shows as drift too. Details name
settings, never their values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

TAG_FINGERPRINTS = "multicloud-fingerprints"
STORAGE_ACCOUNT = "storage account"  # the fingerprint entry of the account the connection strings came from

# Where what deploy sets lives in the site's ARM document (its PUT body and GET answer alike), and the name
# a drift detail uses. siteConfig's TLS and FTPS settings are only reported by GET .../config/web, which
# `site_document` merges in: GET site answers null for them.
SITE_FIELDS = {
    ("properties", "httpsOnly"): "httpsOnly",
    ("properties", "siteConfig", "minTlsVersion"): "minTlsVersion",
    ("properties", "siteConfig", "ftpsState"): "ftpsState",
    ("properties", "siteConfig", "linuxFxVersion"): "linuxFxVersion",
    ("properties", "functionAppConfig", "runtime", "name"): "runtime",
    ("properties", "functionAppConfig", "runtime", "version"): "runtime version",
    ("properties", "functionAppConfig", "scaleAndConcurrency", "maximumInstanceCount"): "maximum instance count",
    ("properties", "functionAppConfig", "scaleAndConcurrency", "instanceMemoryMB"): "instance memory",
    ("properties", "functionAppConfig", "deployment", "storage", "value"): "deployment storage",
}


def fingerprint(name: str, value: str) -> str:
    return hashlib.sha256(f"{name}\0{value}".encode()).hexdigest()[:8]


def fingerprints(secrets: Mapping[str, str], account_identity: str) -> str:
    """The tag value: one fingerprint per secret-valued setting and one for the storage account."""
    entries = {fingerprint(k, v) for k, v in secrets.items()} | {fingerprint(STORAGE_ACCOUNT, account_identity)}
    return " ".join(sorted(entries))


def recorded(tags: Mapping[str, str]) -> frozenset[str] | None:
    """The fingerprints a deploy recorded on the site; None when it recorded none (deployed before them)."""
    value = tags.get(TAG_FINGERPRINTS)
    return frozenset(value.split()) if value else None


def _text(value: object) -> object:
    """SDK enums (str subclasses) compare as their wire value."""
    return getattr(value, "value", value)


def site_fields(doc: Mapping[str, Any]) -> dict[str, object]:
    """The fields of SITE_FIELDS that `doc` (an ARM site document) has, by detail name."""
    out: dict[str, object] = {}
    for path, name in SITE_FIELDS.items():
        node: Any = doc
        for part in path:
            node = node.get(part) if isinstance(node, Mapping) else None
        if node is not None:
            out[name] = _text(node)
    return out


@dataclass(frozen=True)
class Wanted:
    """What deploy sets on the site, from the spec alone (secret values are not known at plan time)."""

    settings: Mapping[str, str]  # plain app settings
    secrets: Iterable[str]  # names of the secret-valued app settings
    site: Mapping[str, object]  # site_fields of the PUT body
    tags: Mapping[str, str]  # the ownership and user tags


@dataclass(frozen=True)
class Actual:
    """What ARM reports for the site now."""

    settings: Mapping[str, str]
    state: str
    site: Mapping[str, object]  # site_fields of GET site + GET config/web
    tags: Mapping[str, str]
    account_identity: str | None = None  # of the storage account now; None: it does not exist
    extra: tuple[str, ...] = ()  # phrases found elsewhere (a resource deleted)


def _names(names: list[str], one: str, many: str) -> str:
    return f"{one if len(names) == 1 else many} {', '.join(sorted(names))}"


def site_drift(want: Wanted, actual: Actual) -> list[str]:
    """Phrases for `drift: ...`: what differs from what deploy set, when the spec has not changed since."""
    prints = recorded(actual.tags)
    secrets = sorted(want.secrets)
    deleted = [n for n in [*want.settings, *secrets] if n not in actual.settings]
    changed = [n for n, v in want.settings.items() if n in actual.settings and actual.settings[n] != v]
    if prints is not None:  # recorded: a secret setting unlike its fingerprint was edited by hand
        changed += [n for n in secrets if n in actual.settings and fingerprint(n, actual.settings[n]) not in prints]
    out = list(actual.extra)
    if prints is not None and actual.account_identity is not None and \
            fingerprint(STORAGE_ACCOUNT, actual.account_identity) not in prints:
        out.append("the storage account was recreated outside multicloud (new keys)")
    if changed:
        out.append(_names(changed, "app setting", "app settings") + " changed outside multicloud")
    if deleted:
        out.append(_names(deleted, "app setting", "app settings") +
                   f" {'was' if len(deleted) == 1 else 'were'} deleted outside multicloud")
    fields = [name for name, value in want.site.items() if actual.site.get(name) != value]
    if fields:
        out.append(f"{', '.join(fields)} of the function app changed outside multicloud")
    tags = [k for k, v in want.tags.items() if actual.tags.get(k) != v]
    if tags:
        out.append(_names(tags, "tag", "tags") + " of the function app changed outside multicloud")
    if actual.state.lower() != "running":
        out.append(f"the function app is {actual.state}")
    return out


def label(phrases: Iterable[str]) -> str:
    text = "; ".join(phrases)
    return f"drift: {text}" if text else ""
