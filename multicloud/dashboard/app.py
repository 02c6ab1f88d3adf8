"""The dashboard's web app (Starlette): pages and fragments rendered from the caches, and the actions.

Pages are Jinja2 templates (autoescaped) that htmx refreshes in place: the matrix polls its fragment,
a cell's page polls its status, metrics and dead letters, the log tail is a server-sent event stream.
Every template and asset is package data (`multicloud/dashboard/templates`, `static`): nothing is
fetched from a network, so the page works air-gapped.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar

from anyio import to_thread
from jinja2 import Environment, PackageLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from multicloud.dashboard import actions
from multicloud.dashboard.board import Cell, Service
from multicloud.dashboard.cache import OnDemand, PlanCache, StatusCache, timed
from multicloud.dashboard.metrics import FunctionMetrics, sparkline, summarize
from multicloud.dashboard.security import Guard
from multicloud.errors import MulticloudError
from multicloud.provider import LogRecord, to_jsonable
from multicloud.state import last_deploy

T = TypeVar("T")
METRICS_WINDOW = timedelta(minutes=15)
SPARK_MIN_SPAN = timedelta(seconds=30)
TAIL_BACKLOG = timedelta(minutes=5)
TAIL_POLL_S = 1.0
MAX_BODY_SHOWN = 64 * 1024


@dataclass
class Settings:
    refresh_s: float = 5.0  # status reads per target, and how often pages poll
    plan_interval_s: float = 300.0  # 0: plan on start and on demand only
    plan_workers: int = 2
    plans: bool = True


def ago(when: datetime | None) -> str:
    if when is None:
        return "never"
    seconds = max(0, int((datetime.now(timezone.utc) - when).total_seconds()))
    if seconds < 90:
        return f"{seconds} s ago"
    if seconds < 5400:
        return f"{seconds // 60} min ago"
    if seconds < 172800:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"


def stamp(value: str | datetime | None) -> str:
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def environment() -> Environment:
    env = Environment(loader=PackageLoader("multicloud.dashboard", "templates"), autoescape=True,
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["ago"] = ago
    env.filters["stamp"] = stamp
    env.filters["ms"] = lambda v: "-" if v is None else (f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms")
    env.globals["sparkline"] = sparkline
    return env


class Dashboard:
    """The app's state: the watched services, the caches, the CSRF token; builds the Starlette app."""

    def __init__(self, services: list[Service], settings: Settings, *, token: str | None, csrf: str,
                 status: StatusCache | None = None, plans: PlanCache | None = None) -> None:
        self.services = {s.key: s for s in services}
        self.settings = settings
        self.token = token
        self.csrf = csrf
        self.status = status or StatusCache(services, settings.refresh_s)
        self.plans = plans or PlanCache(services, settings.plan_interval_s, settings.plan_workers)
        self.metrics = OnDemand(ttl_s=max(1.0, settings.refresh_s / 2))
        self.env = environment()
        self.targets = sorted({t for s in services for t in s.targets}, key=_target_order)

    # ---- lifecycle ---------------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        self.status.start()
        if self.settings.plans:
            self.plans.start()
        try:
            yield
        finally:
            self.status.stop(timeout=1.0)
            self.plans.stop()

    def asgi(self) -> Any:
        routes = [
            Route("/", self.index),
            Route("/fragments/matrix", self.matrix),
            Route("/api/board", self.api_board),
            Route("/s/{service}/{target}", self.cell_page),
            Route("/s/{service}/{target}/status", self.cell_status),
            Route("/s/{service}/{target}/metrics", self.cell_metrics),
            Route("/s/{service}/{target}/dead-letters", self.cell_dead_letters),
            Route("/s/{service}/{target}/logs", self.log_stream),
            Route("/s/{service}/{target}/invoke", self.do_invoke, methods=["POST"]),
            Route("/s/{service}/{target}/rollback", self.do_rollback, methods=["POST"]),
            Route("/s/{service}/{target}/dead-letters", self.do_dead_letters, methods=["POST"]),
            Route("/s/{service}/{target}/plan", self.do_plan, methods=["POST"]),
            Mount("/static", StaticFiles(packages=[("multicloud.dashboard", "static")]), name="static"),
        ]
        app = Starlette(routes=routes, lifespan=self.lifespan)
        return Guard(app, token=self.token, csrf=self.csrf)

    # ---- data ----------------------------------------------------------------------------------------
    def cell(self, service: Service, target: str) -> Cell:
        key = (service.key, target)
        return Cell(service, target, self.status.get(key), self.plans.get(key),
                    last_deploy(service.project, target), self.plans.running(key))

    def rows(self) -> list[tuple[Service, list[Cell | None]]]:
        return [(s, [self.cell(s, t) if t in s.targets else None for t in self.targets])
                for s in self.services.values()]

    def lookup(self, request: Request) -> tuple[Service, str]:
        service = self.services.get(request.path_params["service"])
        target = request.path_params["target"]
        if service is None or target not in service.targets:
            raise HTTPException(404, "no such service or target on this dashboard")
        return service, target

    def render(self, template: str, request: Request, status_code: int = 200, **context: Any) -> HTMLResponse:
        body = self.env.get_template(template).render(
            request=request, csrf=self.csrf, refresh_s=self.settings.refresh_s,
            poll_s=max(1.0, self.settings.refresh_s / 2), now=datetime.now(timezone.utc), **context)
        return HTMLResponse(body, status_code)

    async def blocking(self, work: Callable[[], T]) -> T:
        return await to_thread.run_sync(work)

    # ---- pages ---------------------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return self.render("index.html", request, rows=self.rows(), targets=self.targets)

    async def matrix(self, request: Request) -> Response:
        return self.render("_matrix.html", request, rows=self.rows(), targets=self.targets)

    async def api_board(self, request: Request) -> Response:
        cells = []
        for service, row in self.rows():
            for cell in row:
                if cell is None:
                    continue
                status = cell.status
                plan = cell.plan
                cells.append({
                    "service": service.name, "key": service.key, "path": str(service.project.root),
                    "target": cell.target, "health": cell.health, "version": cell.version,
                    "endpoint": cell.endpoint, "last_deploy": cell.last_deploy,
                    "status": None if status is None else {
                        "read_at": status.read_at.isoformat(), "duration_s": round(status.duration_s, 3),
                        "error": status.error, "unsupported": status.unsupported,
                        "report": to_jsonable(status.value)},
                    "plan": None if plan is None else {
                        "read_at": plan.read_at.isoformat(), "duration_s": round(plan.duration_s, 3),
                        "error": plan.error, "unsupported": plan.unsupported, "summary": cell.plan_summary[1],
                        "changes": to_jsonable(plan.value.changes) if plan.value else None},
                })
        return JSONResponse({"refresh_s": self.settings.refresh_s, "targets": self.targets, "cells": cells})

    async def cell_page(self, request: Request) -> Response:
        service, target = self.lookup(request)
        cell = self.cell(service, target)
        functions = service.project.functions_for(target)
        return self.render("cell.html", request, cell=cell, service=service, target=target, functions=functions,
                           queues=sorted(service.project.channels_for(target, "queue")))

    async def cell_status(self, request: Request) -> Response:
        service, target = self.lookup(request)
        return self.render("_cell_status.html", request, cell=self.cell(service, target))

    async def cell_metrics(self, request: Request) -> Response:
        service, target = self.lookup(request)
        reading = await self.blocking(lambda: self.metrics.get(
            (service.key, target), lambda: timed(lambda: actions.recent_invocations(service, target, METRICS_WINDOW))))
        until = reading.read_at
        metrics: list[FunctionMetrics] = []
        recent = [c for calls in (reading.value or {}).values() for c in calls]
        # the sparklines share one axis: from the first call in the window (a burst still has a shape)
        start = min((c.time for c in recent), default=until - METRICS_WINDOW) - timedelta(seconds=1)
        start = max(until - METRICS_WINDOW, min(start, until - SPARK_MIN_SPAN))
        for name, calls in (reading.value or {}).items():
            metrics.append(summarize(name, calls, start, until))
        recent.sort(key=lambda c: c.time, reverse=True)
        return self.render("_metrics.html", request, reading=reading, metrics=metrics, recent=recent[:20],
                           window_min=int(METRICS_WINDOW.total_seconds() // 60), spark_from=start)

    async def cell_dead_letters(self, request: Request) -> Response:
        service, target = self.lookup(request)
        reading = await self.blocking(lambda: timed(lambda: actions.dead_letters(service, target)))
        return self.render("_dead_letters.html", request, reading=reading, service=service, target=target)

    async def log_stream(self, request: Request) -> Response:
        service, target = self.lookup(request)
        function = request.query_params.get("function") or None
        if function is not None and function not in {f.name for f in service.project.functions_for(target)}:
            raise HTTPException(404, f"no function {function!r} on {target}")
        return StreamingResponse(self._tail(request, service, target, function), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})

    async def _tail(self, request: Request, service: Service, target: str,
                    function: str | None) -> AsyncIterator[str]:
        """Poll the provider's logs (never `follow`: a poll is bounded, so a closed tab leaves no reader
        blocked on a target) and send each new line once, as an HTML fragment."""
        from multicloud.orchestrate import provider_for

        provider = provider_for(service.project, target)
        cursor = datetime.now(timezone.utc) - TAIL_BACKLOG
        seen: set[tuple[datetime, str, str]] = set()
        first = True
        while not await request.is_disconnected():
            since = cursor
            try:
                records: list[LogRecord] = await self.blocking(
                    lambda since=since: list(provider.logs(function, since, False)))  # type: ignore[misc]
            except MulticloudError as exc:
                yield _sse("line", self.env.get_template("_log_line.html").render(
                    when=None, function="dashboard", message=f"logs not available: {exc.message}", error=True))
                return
            fresh = [r for r in records if r.time >= since and (r.time, r.function, r.message) not in seen]
            if first:
                fresh = fresh[-100:]
                first = False
            for record in fresh:
                yield _sse("line", self.env.get_template("_log_line.html").render(
                    when=record.time, function=record.function, message=record.message, error=False))
            if records:
                cursor = max(cursor, max(r.time for r in records))
                seen = {(r.time, r.function, r.message) for r in records if r.time >= cursor}
            yield ": keep-alive\n\n"
            await asyncio.sleep(TAIL_POLL_S)

    # ---- actions (POST, CSRF-checked by the Guard, confirmed on the page) ---------------------------
    async def do_invoke(self, request: Request) -> Response:
        service, target = self.lookup(request)
        form = await request.form()
        fields = {k: str(form.get(k, "")) for k in ("function", "trigger", "method", "path", "body", "headers",
                                                   "event")}
        invoke_form = actions.InvokeForm(**{k: v for k, v in fields.items() if v or k == "function"})
        try:
            result = await self.blocking(lambda: actions.invoke(service, target, invoke_form))
        except MulticloudError as exc:
            return self.render("_action_result.html", request, ok=False, title="invoke failed", message=exc.message)
        self.metrics.forget((service.key, target))
        body = result.body[:MAX_BODY_SHOWN].decode("utf-8", "replace")
        return self.render("_invoke_result.html", request, result=result, body=body,
                           truncated=len(result.body) > MAX_BODY_SHOWN)

    async def do_rollback(self, request: Request) -> Response:
        service, target = self.lookup(request)
        try:
            result = await self.blocking(lambda: actions.rollback(service, target))
        except MulticloudError as exc:
            return self.render("_action_result.html", request, ok=False, title="rollback failed",
                               message=exc.message)
        finally:
            self.status.nudge(target)
            self.plans.request((service.key, target))
        return self.render("_action_result.html", request, ok=True, title="rolled back",
                           message=f"{service.name} on {target}: live is now version {result.version}")

    async def do_dead_letters(self, request: Request) -> Response:
        service, target = self.lookup(request)
        form = await request.form()
        action = str(form.get("action", ""))
        queue = str(form.get("queue", ""))
        ids = [str(v) for v in form.getlist("id") if str(v)]
        if action not in ("retry", "purge"):
            return self.render("_action_result.html", request, 400, ok=False, title="refused",
                               message="action must be retry or purge")
        try:
            done = await self.blocking(lambda: actions.act_on_dead_letters(
                service, target, queue, action, ids or None))  # type: ignore[arg-type]
        except MulticloudError as exc:
            return self.render("_action_result.html", request, ok=False, title=f"{action} failed",
                               message=exc.message)
        verb = "sent back to their queue" if action == "retry" else "purged"
        response = self.render("_action_result.html", request, ok=True, title=f"{action} done",
                               message=f"{target}: {done.queue}: {len(done.ids)} dead letter(s) {verb}")
        response.headers["HX-Trigger"] = "dead-letters-changed"
        return response

    async def do_plan(self, request: Request) -> Response:
        service, target = self.lookup(request)
        self.plans.request((service.key, target))
        return self.render("_action_result.html", request, ok=True, title="planning",
                           message=f"planning {service.name} on {target} in the background")


def _sse(event: str, data: str) -> str:
    lines = data.strip().split("\n")
    return f"event: {event}\n" + "".join(f"data: {line}\n" for line in lines) + "\n"


def _target_order(target: str) -> tuple[int, str]:
    order = ("local", "docker", "aws", "azure", "gcp")
    return (order.index(target) if target in order else len(order), target)

