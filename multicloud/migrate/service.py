"""One Serverless service (already read and variable-resolved) -> a multicloud spec plus notes.

The order matters only for honesty: every function is converted on its own (one that cannot be, a container
image or a Node.js function, is listed and the rest go on); then the service-wide facts (runtime, routes
shared by several functions, environment the private runtime shares) are settled; then the result is put
through multicloud's own validator and checks (`Spec`, `check_project`), and any function they refuse is
listed and left out, so what is written always validates.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from multicloud.errors import SpecError
from multicloud.spec.models import RUNTIMES

from . import advice
from .cfn import Resources, is_intrinsic
from .deps import carry
from .environment import Environment
from .events import Context, convert_event, routes
from .handlers import convert_handler
from .report import Conversion, Notes, Path_
from .validate import validated
from .variables import Resolver

FUNCTION_DONE = {"handler", "events", "memorySize", "timeout", "environment", "description", "runtime", "module",
                 "url", "image"}
PROVIDER_DONE = {"name", "runtime", "stage", "region", "memorySize", "timeout", "environment", "architecture", "tags"}
TOP_DONE = {"service", "provider", "functions", "plugins", "resources", "constructs"}


def nearest_runtime(runtime: str) -> str:
    """python3.9 -> python3.10; python3.14 -> python3.13 (the supported Pythons are contiguous)."""
    match = re.fullmatch(r"python(\d+)\.(\d+)", runtime)
    if not match:
        return "python3.11"
    version = (int(match.group(1)), int(match.group(2)))
    supported = [(3, int(r.split(".")[1])) for r in RUNTIMES]
    best = min(supported, key=lambda v: (abs(v[1] - version[1]) if version[0] == 3 else 99, v))
    return f"python{best[0]}.{best[1]}"


def slug(text: str, allowed: str = "a-z0-9-", fallback: str = "service") -> str:
    out = re.sub(f"[^{allowed}]+", "-", text.lower()).strip("-_")
    if out and not out[0].isalpha():
        out = f"{fallback[0]}-{out}"
    return (out or fallback)[:40].rstrip("-_") or fallback


class ServiceConverter:
    def __init__(self, doc: dict[str, Any], *, filename: str, base_dir: Path, stage: str | None,
                 region: str | None, environ: dict[str, str]) -> None:
        self.filename = filename
        self.root = base_dir
        self.notes = Notes(filename)
        self.resolver = Resolver(doc, filename=filename, base_dir=base_dir, stage=stage, region=region,
                                 environ=environ)
        self.svc: dict[str, Any] = {}
        self.api_events = False  # some function had http/httpApi events (API Gateway routed them)

    # ---- entry ----------------------------------------------------------------------------------------------
    def convert(self) -> Conversion:
        resolved = self.resolver.resolve()
        self.svc = resolved if isinstance(resolved, dict) else {}
        provider = self.svc.get("provider")
        provider = provider if isinstance(provider, dict) else {}
        if provider.get("name", "aws") != "aws":
            raise SpecError(f"provider {provider.get('name')!r}: only AWS services can be imported",
                            fix="import the service's AWS variant, or write multicloud.yaml by hand",
                            where=f"{self.filename}: provider.name")
        self.provider = provider
        self.resources = Resources.from_section(self.svc.get("resources"))
        self.env = Environment(self.notes, self.resolver, self.resources, provider.get("environment"))
        payload = provider.get("httpApi", {}).get("payload") if isinstance(provider.get("httpApi"), dict) else None
        self.ctx = Context(self.notes, self.resources, "1.0" if str(payload) in ("1.0", "1") else "2.0")
        self.plugins = self._plugins()
        self.runtime = self._service_runtime()
        spec: dict[str, Any] = {"service": self._name()}
        spec["runtime"] = self.runtime
        functions = self._functions()
        spec["functions"] = functions
        targets = self._targets(functions)
        if targets:
            spec["targets"] = targets
        self._top_level()
        self._provider_keys()
        spec = validated(spec, self.root, self.notes)
        self.env.shared(spec["functions"])
        modules = [m for m in (self._modules.get(n) for n in spec["functions"]) if m]
        deps = carry(self.root, self._custom("pythonRequirements"), modules, self.notes)
        if deps.requirements:  # an existing file (checked by carry) or one written beside the spec
            spec = {"service": spec["service"], "runtime": spec["runtime"], "requirements": deps.requirements,
                    **{k: v for k, v in spec.items() if k not in ("service", "runtime")}}
        self._unresolved()
        return Conversion(spec, self.notes.items, deps.files, Path(self.filename).name)

    # ---- service-wide --------------------------------------------------------------------------------------
    def _name(self) -> str:
        name = self.svc.get("service")
        if isinstance(name, dict):
            name = name.get("name")
        if not isinstance(name, str) or "${" in name or not name.strip():
            self.notes.add("service", f"the service name {name!r} is not known: used 'service'",
                           "set `service:` in multicloud.yaml")
            return "service"
        out = slug(name)
        if out != name:
            self.notes.info("service", f"renamed {name!r} to {out!r} (lower-case letters, digits and dashes)")
        return out

    def _plugins(self) -> list[str]:
        raw = self.svc.get("plugins")
        if isinstance(raw, dict):
            raw = raw.get("modules")
        names = [p for p in raw if isinstance(p, str)] if isinstance(raw, list) else []
        for index, plugin in enumerate(names):
            kind, what, todo = advice.PLUGINS.get(plugin, advice.PLUGIN_DEFAULT)
            self.notes.add(("plugins", index), f"plugin {plugin}: {what}", todo, kind)
        return names

    def _custom(self, key: str) -> Any:
        custom = self.svc.get("custom")
        return custom.get(key) if isinstance(custom, dict) else None

    def _service_runtime(self) -> str:
        written = self.provider.get("runtime")
        candidates = [written] if isinstance(written, str) and written.startswith("python") else []
        functions = self.svc.get("functions")
        functions = functions if isinstance(functions, dict) else {}
        candidates += [f["runtime"] for f in functions.values() if isinstance(f, dict)
                       and isinstance(f.get("runtime"), str) and f["runtime"].startswith("python")]
        runtime = candidates[0] if candidates else "python3.11"
        if written is None and not candidates:
            self.notes.info(("provider", "runtime"), "no runtime given (Serverless's default is Node.js); the "
                            "handlers are Python: used python3.11")
        if runtime not in RUNTIMES:
            chosen = nearest_runtime(runtime)
            self.notes.add(("provider", "runtime"), f"{runtime} is not a runtime multicloud deploys: used {chosen}",
                           "run the code's tests on it" + (" (Python 2 code needs porting)"
                                                           if runtime.startswith("python2") else ""))
            return chosen
        return runtime

    def _targets(self, functions: dict[str, Any]) -> dict[str, Any]:
        aws: dict[str, Any] = {}
        region = self.resolver.region
        written = self.provider.get("region")
        if (self.resolver.cli_region or isinstance(written, str) and "${" not in written) \
                and re.fullmatch(r"[a-z]{2}(-gov)?-[a-z]+-\d", region):
            aws["region"] = region
        arch = self.provider.get("architecture")
        if arch in ("x86_64", "arm64"):
            aws["architecture"] = arch
        stage = self.resolver.stage
        if re.fullmatch(r"[a-z0-9-]{1,16}", stage):
            aws["stage"] = stage
        else:
            self.notes.add(("provider", "stage"), f"stage {stage!r} is not 1-16 lower-case letters, digits or "
                           "dashes: multicloud's default dev is used", "set targets.aws.stage")
        if self.api_events and any("http" in t for fn in functions.values() for t in fn.get("triggers", [])):
            aws["http"] = "http_api"  # paths and methods routed as API Gateway routed them
        tags = self.provider.get("tags")
        if isinstance(tags, dict):
            good = {str(k): str(v) for k, v in tags.items() if isinstance(v, (str, int, float))
                    and "${" not in str(v) and not str(k).lower().startswith(("aws:", "multicloud:"))}
            if good:
                aws["tags"] = good
            for key in set(map(str, tags)) - set(good):
                self.notes.add(("provider", "tags", key), "tag not converted (not a plain value)", "set it by hand")
        return {"aws": aws} if aws else {}

    def _top_level(self) -> None:
        for key in self.svc:
            if key in TOP_DONE:
                continue
            kind, what, todo = advice.TOP_LEVEL.get(key, ("review", "not converted", "check what it does"))
            self.notes.add(key, what, todo, kind)
        for rid, res in self.resources.by_id.items():
            if rid not in self._used_resources:
                self.notes.add(("resources", "Resources", rid), f"{res.type or 'a resource'} is not created by "
                               "multicloud", "create what the code needs on each target, or keep it on AWS and "
                               "give every target access to it")
        section = self.svc.get("resources")
        for part in section if isinstance(section, list) else [section] if section is not None else []:
            for key in part if isinstance(part, dict) else ():
                if key != "Resources":
                    self.notes.add(("resources", key), "CloudFormation section not converted", "recreate what "
                                   "it declares on each target")

    def _provider_keys(self) -> None:
        for key in self.provider:
            if key in PROVIDER_DONE:
                continue
            kind, what, todo = advice.PROVIDER.get(key, ("review", "not converted", "check what it does"))
            self.notes.add(("provider", key), what, todo, kind)

    # ---- functions ------------------------------------------------------------------------------------------
    def _functions(self) -> dict[str, Any]:
        raw = self.svc.get("functions")
        items: list[tuple[Path_, str, Any]] = []
        if isinstance(raw, dict):
            items = [(("functions", name), name, body) for name, body in raw.items()]
        elif isinstance(raw, list):
            for index, part in enumerate(raw):
                if isinstance(part, dict):
                    items += [(("functions", index, name), name, body) for name, body in part.items()]
                else:
                    self.notes.add(("functions", index), "not a mapping of functions: skipped")
        elif raw is not None:
            self.notes.add("functions", "not a mapping of functions: nothing converted")
        items += self._construct_workers()
        self._used_resources: set[str] = set()
        self._modules: dict[str, str] = {}
        out: dict[str, Any] = {}
        for path, name, body in items:
            key = slug(str(name), "a-z0-9_-", "fn")
            base, n = key, 2
            while key in out:
                key = f"{base[:37]}-{n}"
                n += 1
            if key != str(name):
                self.notes.info(path, f"function {name!r} is {key!r} in multicloud")
            fn = self._function(path, key, body)
            if fn is not None:
                out[key] = fn
        self._deduplicate_routes(out)
        if not out:
            reasons = [str(n) for n in self.notes.items if n.kind == "review"
                       and (": functions" in n.where or ": constructs" in n.where)]
            raise SpecError("no function of this service could be converted: " + "; ".join(reasons)[:1500],
                            fix="see the reasons above", where=self.filename)
        return out

    def _construct_workers(self) -> list[tuple[Path_, str, Any]]:
        constructs = self.svc.get("constructs")
        out: list[tuple[Path_, str, Any]] = []
        for name, body in constructs.items() if isinstance(constructs, dict) else ():
            path: Path_ = ("constructs", name)
            if not isinstance(body, dict) or body.get("type") != "queue" or not isinstance(body.get("worker"), dict):
                kind = body.get("type") if isinstance(body, dict) else None
                self.notes.add(path, f"serverless-lift construct of type {kind!r} not converted",
                               "recreate what it provides on each target")
                continue
            queue = f"{self._name()}-{self.resolver.stage}-{name}"
            worker = dict(body["worker"])
            event: dict[str, Any] = {"arn": f"arn:aws:sqs:{self.resolver.region}:0:{queue}"}
            if isinstance(body.get("batchSize"), int):
                event["batchSize"] = body["batchSize"]
            worker["events"] = [*(worker.get("events") or []), {"sqs": event}]
            for key in body:
                if key not in ("type", "worker", "batchSize"):
                    self.notes.add((*path, key), "queue construct option not converted", "set it on the queue")
            self.notes.info(path, f"the queue construct's worker became function {name}Worker with a queue "
                                  f"trigger on {queue!r} (serverless-lift's queue name)")
            out.append(((*path, "worker"), f"{name}Worker", worker))
        return out

    def _function(self, path: Path_, key: str, body: Any) -> dict[str, Any] | None:
        if not isinstance(body, dict):
            self.notes.add(path, "not a function definition (a mapping): not converted")
            return None
        if "image" in body:
            self.notes.add(path, "a container-image function: not converted",
                           "multicloud deploys code: give it a handler file and requirements instead of an image")
            return None
        runtime = body.get("runtime")
        if isinstance(runtime, str) and not runtime.startswith("python"):
            self.notes.add((*path, "runtime"), f"a {runtime} function: not converted (multicloud deploys Python)",
                           "keep it on Serverless, or port it to Python")
            return None
        if runtime is None and isinstance(self.provider.get("runtime"), str) \
                and not self.provider["runtime"].startswith("python"):
            self.notes.add(path, f"a {self.provider['runtime']} function (provider.runtime): not converted",
                           "keep it on Serverless, or port it to Python")
            return None
        module = body.get("module") if isinstance(body.get("module"), str) else None
        wsgi = self._custom("wsgi")
        wsgi_app = wsgi.get("app") if "serverless-wsgi" in self.plugins and isinstance(wsgi, dict) \
            and isinstance(wsgi.get("app"), str) else None
        handler = convert_handler(body.get("handler"), self.root, module_dir=module, wsgi_app=wsgi_app)
        if handler.handler is None:
            self.notes.add((*path, "handler"), f"not converted: {handler.problem}",
                           "fix the handler path (or the file's name) and import again")
            return None
        for what, todo in handler.remarks:
            self.notes.add((*path, "handler"), what, todo, "review" if todo else "info")
        if module:
            self._modules[key] = module
        fn: dict[str, Any] = {"handler": handler.handler, "style": handler.style}
        if isinstance(body.get("description"), str) and body["description"].strip():
            fn["description"] = body["description"].strip()
        for src, dst, low, high in (("memorySize", "memory", 64, 32768), ("timeout", "timeout", 1, 86400)):
            value = body.get(src, self.provider.get(src))
            if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high:
                fn[dst] = value
            elif value is not None:
                self.notes.add((*path, src), f"{value!r} not converted", f"give a number ({low}-{high})")
        env, secrets = self.env.convert(path, body.get("environment"))
        if env:
            fn["env"] = env
        if secrets:
            fn["secrets"] = secrets
        converted, payload = self._events(path, body, fn["style"])
        if converted:
            fn["triggers"] = converted
        for option in body:
            if option in FUNCTION_DONE:
                continue
            kind, what, todo = advice.FUNCTION.get(option, ("review", "not converted", "check what it does"))
            self.notes.add((*path, option), what, todo, kind)
        if isinstance(runtime, str) and runtime != self.provider.get("runtime") and runtime in RUNTIMES \
                and runtime != self.runtime:
            self.notes.add((*path, "runtime"), f"{runtime} differs from the service's {self.runtime}",
                           "multicloud uses one runtime per service")
        if fn["style"] == "aws" and payload == "1.0":
            fn["http_payload"] = "1.0"
        order = ("handler", "style", "http_payload", "description", "memory", "timeout", "env", "secrets", "triggers")
        return {k: fn[k] for k in order if k in fn}

    def _events(self, path: Path_, body: dict[str, Any], style: str) -> tuple[list[dict[str, Any]], str | None]:
        events = body.get("events")
        triggers: list[dict[str, Any]] = []
        payloads: list[str] = []
        if events is not None and not isinstance(events, list):
            self.notes.add((*path, "events"), "not a list of events: not converted")
            events = []
        for index, event in enumerate(events or []):
            converted = convert_event(event, (*path, "events", index), self.ctx)
            self._note_resources(event)
            if style in ("wsgi", "asgi"):
                for trig in converted.triggers:
                    if "http" not in trig:
                        kind = next(iter(trig))
                        self.notes.add((*path, "events", index), f"a {kind} event on a {style} app: not "
                                       "converted (an app serves HTTP only)", "move it to a separate function "
                                       "whose handler takes (event, context)")
                converted.triggers = [t for t in converted.triggers if "http" in t]
            triggers += converted.triggers
            if converted.payload and converted.triggers:
                payloads.append(converted.payload)
                self.api_events = True
        url = body.get("url")
        if url:
            url_opts = url if isinstance(url, dict) else {}
            keyed = url_opts.get("authorizer") == "aws_iam"
            triggers += routes("*", "*", (*path, "url"), self.ctx, keyed=keyed)
            payloads.append("2.0")
            self.notes.info((*path, "url"), "the function URL became routes / and /{proxy+} for every method")
            for key in url_opts:
                if key != "authorizer":
                    kind, what, todo = advice.HTTP_OPTIONS.get(key, ("review", "not converted", ""))
                    self.notes.add((*path, "url", key), what, todo, kind)
        if len(set(payloads)) > 1 and style == "aws":
            self.notes.add((*path, "events"), "the function had both REST (payload 1.0) and HTTP API or URL "
                           f"(payload 2.0) events; it now gets payload {payloads[0]} on every route",
                           "check that the handler reads both shapes")
        return triggers, (payloads[0] if payloads else None)

    def _note_resources(self, event: Any) -> None:
        """Remember which declared resources an event uses (the rest are listed as not created)."""
        def walk(value: Any) -> None:
            if is_intrinsic(value):
                arg = next(iter(value.values()))
                ref = arg.split(".", 1)[0] if isinstance(arg, str) else arg[0] if isinstance(arg, list) and arg \
                    and isinstance(arg[0], str) else None
                if ref in self.resources.by_id:
                    self._used_resources.add(ref)
            if isinstance(value, dict):
                for item in value.values():
                    walk(item)
            elif isinstance(value, list):
                for item in value:
                    walk(item)
        walk(event)

    def _deduplicate_routes(self, functions: dict[str, Any]) -> None:
        """One route table serves the whole service on every target: a route claimed twice keeps its first owner."""
        seen: dict[tuple[str, str], str] = {}
        for name, fn in functions.items():
            kept = []
            for trig in fn.get("triggers", []):
                http = trig.get("http")
                if http is None:
                    kept.append(trig)
                    continue
                key_path = re.sub(r"\{[^}]+\}", "{}", http["path"].rstrip("/") or "/")
                free = [m for m in http["methods"] if (m, key_path) not in seen]
                taken = sorted({seen[(m, key_path)] for m in http["methods"] if (m, key_path) in seen})
                if taken:
                    claimed = ", ".join(m for m in http["methods"] if m not in free)
                    self.notes.add(("functions", name), f"route {http['path']} ({claimed}) is already served by "
                                   f"{', '.join(taken)}: multicloud serves one route table per service (on AWS these "
                                   "may have been separate APIs or URLs)", "give this function another path")
                for method in free:
                    seen[(method, key_path)] = name
                if free:
                    kept.append({"http": {**http, "methods": free}})
            if "triggers" in fn:
                fn["triggers"] = kept
                if not kept:
                    del fn["triggers"]

    def _unresolved(self) -> None:
        if self.resolver.dotenv_file:
            self.notes.info(self.resolver.dotenv_file, "read for ${env:...} values (useDotenv)")
        shell = sorted(n for n in self.resolver.used_env if n in self.resolver.environ)
        if shell:
            self.notes.info("(variables)", "values taken from this shell's environment: " + ", ".join(shell),
                            "import again where those are set as for a deploy")
        for text in self.resolver.defaulted:
            self.notes.info("(variables)", text)
        for record in self.resolver.unresolved:
            consumed = self.env.consumed
            if record.expression in consumed or any(
                    record.where == c or record.where.startswith(c + ".") for c in consumed):
                continue
            self.notes.add(record.where, f"{record.expression} not resolved: {record.reason}",
                           "set the value in multicloud.yaml where it is needed", "unresolved")

