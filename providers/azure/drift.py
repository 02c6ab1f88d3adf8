"""Drift on azure: the shared record (multicloud/drift.py) stored in the function app's tags (pure, no SDK).

The record and the rule are the shared ones: one `<id>=<content>` fingerprint per item a deploy made, and
a difference is drift when the item is recorded and ARM no longer reports it as recorded. Items here: each
app setting multicloud sets (plain ones by value; connection strings, whose values exist only once deploy
reads the keys, by `secret_value`, twelve hex digits of a SHA-256 of name and value, hashed again into the
entry: nothing of a key can be read back), each site field deploy sets (`SITE_FIELDS`, the state `Running`, each
ownership/user tag), the storage account's identity (name and creationTime: a recreated account has new
keys), the Event Hubs namespace, and each sub-resource (deployment and trigger containers, queues, hubs,
consumer groups, Event Grid subscriptions, recorded as present).

Where it lives: the site's tags `multicloud-record`, `multicloud-record-2`... (18 entries a tag: ARM allows
256 characters a value), written by a deploy's last write once everything before it succeeded (the code
step's tag merge when nothing follows it, else a tag merge of its own), so a failed deploy leaves the
previous record; a site PUT keeps the record tags as they were. A copy goes to the local state cache,
which serves when the site itself is gone.

The previous layout (tags `multicloud-config` + `multicloud-fingerprints`) reads as no record: nothing is
called drift on such a site, differences are plain updates, and its next deploy writes the record (the
old tags are left as they are and ignored). Details name settings and fields, never values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from multicloud import drift as core
from multicloud.drift import Drift

TAG = "multicloud-record"  # then multicloud-record-2, ...
PER_TAG = 18  # entries of 13 characters + a space in one tag value (ARM allows 256 characters)
SETTING, SITE, ACCOUNT, NAMESPACE = "app setting", "function app", "storage account", "event hubs namespace"
UNKNOWN = "(known at apply)"  # what the spec wants of a value read from keys at apply time

# Where what deploy sets lives in the site's ARM document (its PUT body and GET answer alike), and the name
# a drift detail uses. siteConfig's TLS and FTPS settings are only reported by GET .../config/web, which
# the planner merges in: GET site answers null for them.
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
STATE = "state"
TAG_ITEM = "tag "  # a site item `tag <name>`: one of the site's tags


class Record(core.Record):
    """The shared record, stored in the site's tags."""

    @classmethod
    def of(cls, tags: Mapping[str, str] | None, cached: object) -> Record:
        """From the site's record tags, else (site gone, or deployed before records) the state cache."""
        parts = stored(tags or {})
        text = " ".join(parts[k] for k in sorted(parts, key=_order)) if parts else str(cached or "")
        return cls(core.Record.parse(text).recorded)

    @classmethod
    def tags_of(cls, entries: Mapping[str, list[object]], before: Mapping[str, str] = {}) -> dict[str, str]:  # noqa: B006
        """`multicloud-record`, `multicloud-record-2`...; a chunk the site has from a longer record is
        emptied (a tag merge cannot delete a tag)."""
        parts = cls.value_of(entries).split()
        chunks = [" ".join(parts[i:i + PER_TAG]) for i in range(0, len(parts), PER_TAG)] or [""]
        out = {TAG if n == 0 else f"{TAG}-{n + 1}": chunk for n, chunk in enumerate(chunks)}
        return {**{k: "" for k in stored(before)}, **out}


def _order(key: str) -> int:
    return 1 if key == TAG else int(key.rsplit("-", 1)[1])


def stored(tags: Mapping[str, str]) -> dict[str, str]:
    """The record's tags among a resource's tags."""
    return {k: v for k, v in tags.items() if k == TAG or (k.startswith(TAG + "-") and k[len(TAG) + 1:].isdigit())}


def secret_value(name: str, value: str) -> str:
    """What the record compares of a secret-valued setting: a hash of name and value, never the value."""
    return "sha256:" + hashlib.sha256(f"{name}\0{value}".encode()).hexdigest()[:12]


def items(values: Mapping[str, object]) -> core.Resources:
    """{item: value} as the shared record's resources: one resource per item, its one field `value`."""
    return {name: {"value": value} for name, value in values.items()}


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
class View:
    """The function app as items: app settings (secret ones as `secret_value`; UNKNOWN in what the spec
    wants), site items (SITE_FIELDS names, `state`, `tag <name>`) and the storage account's identity."""

    settings: Mapping[str, str]
    site: Mapping[str, object]
    account: str | None = None  # identity of the storage account; None: absent (or, wanted: UNKNOWN)


@dataclass
class Differences:
    """What differs between what the spec wants and what ARM reports, and which of it was done by hand."""

    settings: list[str] = field(default_factory=list)  # app settings (and the account) to write again
    site: list[str] = field(default_factory=list)  # site items to write again (a PUT of the site)
    drift: list[str] = field(default_factory=list)  # phrases for `drift: ...`

    @property
    def any(self) -> bool:
        return bool(self.settings or self.site or self.drift)


def _names(names: list[str], one: str, many: str) -> str:
    return f"{one if len(names) == 1 else many} {', '.join(sorted(names))}"


def compare(record: core.Record, want: View, now: View, secrets: Iterable[str],
            extra: Iterable[str] = ()) -> Differences:
    """Items that differ, and (with a record) the drift phrases for those that differ from their record."""
    known = record.recorded
    out = Differences(drift=list(extra))
    secret = set(secrets)

    def hand(kind: str, key: str, wanted: Mapping[str, object], current: Mapping[str, object]) -> bool:
        return Drift(kind, known, items(current), items(wanted)).label(key, key).startswith("drift: ")

    changed: list[str] = []
    deleted: list[str] = []
    for name, value in want.settings.items():
        current = now.settings.get(name)
        if name in secret:  # the value is not known here: as recorded, or (no record) present, is as wanted
            by_hand = hand(SETTING, name, {name: UNKNOWN}, {name: current} if current is not None else {})
            differs = current is None or by_hand
        else:
            differs = current != value
            by_hand = differs and hand(SETTING, name, {name: value}, {name: current} if current is not None else {})
        if differs:
            out.settings.append(name)
        if by_hand:
            (changed if current is not None else deleted).append(name)
    if now.account is not None and hand(ACCOUNT, ACCOUNT, {ACCOUNT: UNKNOWN}, {ACCOUNT: now.account}):
        out.settings.append(ACCOUNT)
        out.drift.append("the storage account was recreated outside multicloud (new keys)")
    if changed:
        out.drift.append(_names(changed, "app setting", "app settings") + " changed outside multicloud")
    if deleted:
        out.drift.append(_names(deleted, "app setting", "app settings") +
                         f" {'was' if len(deleted) == 1 else 'were'} deleted outside multicloud")
    fields: list[str] = []
    tags: list[str] = []
    stopped = False
    for name, wanted in want.site.items():
        reported = now.site.get(name)
        if reported == wanted:
            continue
        out.site.append(name)
        if hand(SITE, name, {name: wanted}, {name: reported} if reported is not None else {}):
            if name == STATE:
                stopped = True
            elif name.startswith(TAG_ITEM):
                tags.append(name.removeprefix(TAG_ITEM))
            else:
                fields.append(name)
    if fields:
        out.drift.append(f"{', '.join(fields)} of the function app changed outside multicloud")
    if tags:
        out.drift.append(_names(tags, "tag", "tags") + " of the function app changed outside multicloud")
    if stopped:
        out.drift.append(f"the function app is {now.site.get(STATE)}")
    return out


def label(phrases: Iterable[str]) -> str:
    text = "; ".join(phrases)
    return f"drift: {text}" if text else ""
