"""Jinja2 rendering of `multicloud.blueprints/<target>/` templates.

Strict on purpose: an unknown variable fails the build instead of rendering an empty string, and code
templates are not HTML-escaped. Templates load through the installed package, so a wheel renders exactly
what the checkout renders.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

import jinja2


@cache
def environment(target: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("multicloud.blueprints", target),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["pyrepr"] = repr
    env.filters["kwargs"] = lambda options: "".join(f", {k}={v!r}" for k, v in options.items())
    env.filters["tojson_compact"] = lambda v: json.dumps(v, sort_keys=True)
    env.filters["tojson_pretty"] = lambda v: json.dumps(v, sort_keys=True, indent=2)
    return env


def render(target: str, template: str, **context: Any) -> str:
    try:
        return environment(target).get_template(template).render(**context)
    except jinja2.UndefinedError as exc:
        raise RuntimeError(f"blueprint {target}/{template}: {exc.message}") from exc
