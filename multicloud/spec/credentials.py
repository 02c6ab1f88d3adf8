"""Literal credentials where only plain settings belong: a value in `env:` that looks like a cloud key.

`env:` values are plain settings: they are rendered into artifacts and cloud configuration, shown in
consoles and kept in state. A value matching one of these well-known credential shapes is refused (exit 2)
with a pointer to `secrets:`; the message names the variable and the kind, never the value. The shapes
are the providers' own documented prefixes, so ordinary settings do not trip them.
"""

from __future__ import annotations

import re

#: kind -> pattern; searched anywhere in the value
CREDENTIAL_SHAPES: dict[str, re.Pattern[str]] = {
    "an AWS access key id": re.compile(r"(?<![A-Z0-9])(AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA|ANPA|ANVA|APKA)"
                                       r"[A-Z0-9]{16}(?![A-Z0-9])"),
    "a private key block": re.compile(r"-----BEGIN ([A-Z0-9]+ )*PRIVATE KEY( BLOCK)?-----"),
    "a Google API key": re.compile(r"(?<![A-Za-z0-9])AIza[0-9A-Za-z_\-]{35}(?![A-Za-z0-9_\-])"),
    "a GitHub token": re.compile(r"(?<![A-Za-z0-9])(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})"),
    "a Slack token": re.compile(r"(?<![A-Za-z0-9])xox[abposr]-[A-Za-z0-9-]{10,}"),
    "a Stripe secret key": re.compile(r"(?<![A-Za-z0-9])(sk|rk)_live_[0-9A-Za-z]{20,}"),
    "an Azure storage or Service Bus key": re.compile(r"(AccountKey|SharedAccessKey)=[A-Za-z0-9+/]{30,}={0,2}"),
    "a Google service account key": re.compile(r'"type"\s*:\s*"service_account"'),
}


def credential_kind(value: str) -> str | None:
    """What kind of credential `value` looks like, or None."""
    for kind, pattern in CREDENTIAL_SHAPES.items():
        if pattern.search(value):
            return kind
    return None
