"""`multicloud init NAME`: a small project that validates, deploys locally and has a passing test."""

from __future__ import annotations

import re
from pathlib import Path

from multicloud.errors import UsageError

SPEC = """\
# yaml-language-server: $schema=https://multicloud.dev/schema/multicloud.schema.json
service: {name}
runtime: python3.11
requirements: requirements.txt  # dependencies, installed for each target's platform

functions:
  hello:
    handler: handler.hello
    memory: 256
    timeout: 10
    env:
      GREETING: Hello
    triggers:
      - http: {{path: /hello, methods: [GET, POST]}}

targets:
  local: {{}}
"""

HANDLER = '''\
"""The function: one handler, the same on every cloud."""

import os


def hello(event, context):
    req = event.http
    name = req.query.get("name", ["world"])[0]
    context.logger.info("greeting", name=name)
    return {"message": f"{os.environ.get('GREETING', 'Hello')}, {name}!"}
'''

TEST = '''\
"""Runs the handler with the portable runtime's own test helpers: no cloud needed."""

from multicloud.runtime.testing import http_event, make_context

import handler


def test_hello():
    result = handler.hello(http_event("GET", "/hello", query={"name": ["Ada"]}), make_context("hello"))
    assert result == {"message": "Hello, Ada!"}
'''

CONFTEST = '''\
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("GREETING", "Hello")
'''


def scaffold(name: str, dest: Path) -> list[Path]:
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", name):
        raise UsageError(f"service name {name!r} is not valid",
                         fix="use lower-case letters, digits and dashes, starting with a letter (e.g. my-api)")
    if dest.exists() and any(dest.iterdir()):
        raise UsageError(f"{dest} exists and is not empty", fix="choose a new name or pass --dir")
    files = {
        dest / "multicloud.yaml": SPEC.format(name=name),
        dest / "handler.py": HANDLER,
        dest / "requirements.txt": "# dependencies of the function, one per line\n",
        dest / "tests" / "conftest.py": CONFTEST,
        dest / "tests" / "test_handler.py": TEST,
    }
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return list(files)
