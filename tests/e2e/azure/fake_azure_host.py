"""A FAKE Functions host for the published package (part of the fake in fake_azure.py). Not Azure.

It does the small part of the real host's job that `invoke` depends on, with the real `azure.functions`
library: unpack the package one-deploy received, import `function_app` and index its one
`FunctionRegister` as the Python worker does, route HTTP requests by each function's route template,
methods and auth level (function key or master key), and run non-HTTP functions through the admin
endpoint `POST /admin/functions/<name>` with `{"input": ...}`. The user code really runs, in-process.
"""

from __future__ import annotations

import importlib
import io
import json
import re
import sys
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any

FUNCTION_KEY = "fake-function-key"
MASTER_KEY = "fake-master-key"


def route_regex(template: str) -> re.Pattern[str]:
    if template.startswith("{_root"):
        return re.compile("")
    out = ""
    for part in re.split(r"(\{[^}]+\})", template):
        if part.startswith("{*"):
            out += f"(?P<{part[2:-1]}>.*)"
        elif part.startswith("{"):
            out += f"(?P<{part[1:-1].split(':')[0].rstrip('?')}>[^/]+)"
        else:
            out += re.escape(part)
    return re.compile(out)


class FakeHost:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.functions: dict[str, tuple[dict[str, Any], Any]] = {}
        self.loaded: bytes | None = None
        self.added_paths: list[str] = []

    def load(self, package: bytes) -> None:
        if package == self.loaded:
            return
        import azure.functions as func

        self.close()
        root = self.workdir / f"wwwroot-{uuid.uuid4().hex[:8]}"
        with zipfile.ZipFile(io.BytesIO(package)) as zf:
            zf.extractall(root)
        self.added_paths = [str(root), str(root / ".python_packages/lib/site-packages")]
        sys.path[:0] = self.added_paths
        importlib.invalidate_caches()
        module = importlib.import_module("function_app")
        registers = [v for v in vars(module).values() if isinstance(v, func.FunctionRegister)]
        assert len(registers) == 1, "the worker needs exactly one FunctionRegister"
        self.functions = {f.get_function_name(): (json.loads(f.get_function_json()), f.get_user_function())
                          for f in registers[0].get_functions()}
        self.loaded = package

    def close(self) -> None:
        for p in self.added_paths:
            if p in sys.path:
                sys.path.remove(p)
        for name in ("function_app", "handler"):
            sys.modules.pop(name, None)
        self.loaded, self.functions = None, {}

    def http(self, method: str, path: str, query: str, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        import azure.functions as func

        for name, (spec, user) in self.functions.items():
            trigger = spec["bindings"][0]
            if trigger["type"] != "httpTrigger" or method not in trigger["methods"]:
                continue
            match = route_regex(trigger["route"]).fullmatch(path.lstrip("/"))
            if not match:
                continue
            key = headers.get("x-functions-key") or dict(re.findall(r"(\w+)=([^&]*)", query)).get("code")
            if trigger["authLevel"] == "FUNCTION" and key not in (FUNCTION_KEY, MASTER_KEY):
                return 401, {}, b""
            params = {k: v for k, v in re.findall(r"([^&=]+)=([^&]*)", query)}
            req = func.HttpRequest(method, f"https://fake-host{path}" + (f"?{query}" if query else ""),
                                   headers=dict(headers.items()), params=params,
                                   route_params={k: v for k, v in match.groupdict().items() if v is not None},
                                   body=body)
            resp = user(req, SimpleNamespace(invocation_id=uuid.uuid4().hex, function_name=name))
            out = {k: v for k, v in resp.headers.items()}
            if resp.mimetype:
                out["Content-Type"] = resp.mimetype
            return resp.status_code, out, resp.get_body()
        return 404, {}, b""

    def admin(self, name: str, headers: Any, body: bytes) -> tuple[int, dict, bytes]:
        import azure.functions as func
        from azure.functions.blob import InputStream
        from azure.functions.timer import TimerRequest

        if headers.get("x-functions-key") != MASTER_KEY:
            return 401, {}, b""
        if name not in self.functions:
            return 404, {}, b""
        spec, user = self.functions[name]
        data = json.loads(body or b"{}").get("input", "")
        kind = spec["bindings"][0]["type"]
        arg = {
            "timerTrigger": lambda: TimerRequest(),
            "queueTrigger": lambda: func.QueueMessage(id=uuid.uuid4().hex, body=data.encode()),
            "blobTrigger": lambda: InputStream(data=b"", name=data, length=0),
            "eventHubTrigger": lambda: [func.EventHubEvent(body=data.encode())],
        }[kind]()
        user(arg, SimpleNamespace(invocation_id=uuid.uuid4().hex, function_name=name))
        return 202, {}, b""
