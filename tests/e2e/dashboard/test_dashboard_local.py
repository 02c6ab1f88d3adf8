"""The dashboard against a real `local` deployment, through the real `multicloud dashboard` command and
Debian's chromium: the cell's health, invoke from the form (an answer and a 500), invocations with their
sparkline, the live log tail, rollback from the page under the deploy lock, a dead letter retried from
the page; security (the token on a non-loopback host, the Host check on loopback, POST + CSRF on every
action); and no secret value in any page, fragment, stream or API answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import (
    SECRET_VALUE,
    CliDashboard,
    deploy,
    fetch,
    remove_everywhere,
    sse_read,
    wait_for,
    write_service,
)

pytestmark = [pytest.mark.slow]
REFRESH = 1.0


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Deployed twice (v1 then v2), so there is a version to roll back to."""
    root = write_service(tmp_path_factory.mktemp("dash") / "svc", "dash-local", version="v1")
    deploy(root, "local")
    write_service(root, "dash-local", version="v2")
    assert deploy(root, "local").changed
    yield root
    remove_everywhere(root, ("local",))


@pytest.fixture(scope="module")
def dash(root: Path) -> Iterator[CliDashboard]:
    running = CliDashboard(str(root), "--port", "0", "--refresh", str(REFRESH), "--plan-every", "0", cwd=root)
    yield running
    assert running.stop() == 0


@pytest.fixture(scope="module")
def guarded(root: Path) -> Iterator[CliDashboard]:
    running = CliDashboard(str(root), "--host", "0.0.0.0", "--port", "0", "--no-plan", cwd=root)
    yield running
    running.stop()


def service_key(root: Path) -> str:
    from multicloud.project import Project

    return Project.load(root).name


def csrf_of(dash: CliDashboard) -> str:
    match = re.search(r'"X-CSRF-Token": "([^"]+)"', fetch(dash.url).body)
    assert match is not None
    return match.group(1)


def test_the_page_shows_the_cell_healthy_with_version_endpoint_and_who_deployed(page: Any, dash: CliDashboard,
                                                                                root: Path) -> None:
    page.goto(dash.url)
    cell = page.locator(f'tr[data-service="{service_key(root)}"] td[data-target="local"]')
    cell.and_(page.locator('[data-health="healthy"]')).wait_for(timeout=15_000)
    text = cell.inner_text()
    assert "HEALTHY" in text.upper() and "version" in text and "http://127.0.0.1:" in text
    assert re.search(r"deploy \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by \S+@\S+", text), text
    page.locator("text=no changes").first.wait_for(timeout=30_000)  # the background plan: v2 is live


def test_invoke_from_the_form_shows_the_answer_and_a_failure(page: Any, dash: CliDashboard, root: Path) -> None:
    page.goto(f"{dash.url}s/{service_key(root)}/local")
    page.fill('input[name="path"]', "/hello?name=Browser")
    page.click("#invoke")
    result = page.locator("#invoke-result .result")
    result.wait_for(timeout=15_000)
    answer = json.loads(page.locator("#invoke-result pre.answer").inner_text())
    assert answer == {"hello": "Browser", "version": "v2", "target": "local"}
    assert "HTTP 200" in result.inner_text()
    page.select_option('select[name="function"]', "boom")
    page.fill('input[name="path"]', "")
    page.click("#invoke")
    page.locator('#invoke-result .result[data-ok="false"]').wait_for(timeout=15_000)
    assert "HTTP 500" in page.locator("#invoke-result").inner_text()
    # the calls show up in the function table (from the runtime's access log), the failure as a red bar
    row = page.locator('#metrics tr[data-function="boom"]')
    row.locator("svg.spark rect.err").wait_for(timeout=15_000)
    assert row.locator("td.num").nth(1).inner_text() == "1"
    hello = page.locator('#metrics tr[data-function="hello"]')
    assert int(hello.locator("td.calls").inner_text()) >= 1
    assert hello.locator("svg.spark polyline, svg.spark circle.dot").count() == 1


def test_the_log_tail_streams_new_lines(page: Any, dash: CliDashboard, root: Path) -> None:
    page.goto(f"{dash.url}s/{service_key(root)}/local")
    page.locator("#log-tail li").first.wait_for(timeout=15_000)
    page.fill('input[name="path"]', "/hello?name=tail-marker")
    page.click("#invoke")
    page.locator("#log-tail li", has_text="tail-marker").wait_for(timeout=15_000)


def test_no_secret_value_is_ever_sent_to_the_browser(page: Any, dash: CliDashboard, root: Path) -> None:
    key = service_key(root)
    base = f"{dash.url}s/{key}/local"
    csrf = csrf_of(dash)
    answers = {path: fetch(dash.url + path.lstrip("/")) for path in (
        "/", "/fragments/matrix", "/api/board", f"/s/{key}/local", f"/s/{key}/local/status",
        f"/s/{key}/local/metrics", f"/s/{key}/local/dead-letters", "/static/dashboard.css")}
    assert all(a.status == 200 for a in answers.values()), {p: a.status for p, a in answers.items()}
    invoked = fetch(f"{base}/invoke", method="POST", headers={"X-CSRF-Token": csrf},
                    data=b"function=vault&trigger=http&method=GET")
    assert invoked.status == 200 and f'secret_len&#34;:{len(SECRET_VALUE)}' in invoked.body  # it has the secret
    texts = [a.body for a in answers.values()] + [invoked.body, sse_read(f"{base}/logs", 3.0)]
    page.goto(base)
    page.locator("#metrics table.metrics").wait_for(timeout=15_000)
    page.locator("#log-tail li").first.wait_for(timeout=15_000)
    texts.append(page.content())
    for text in texts:
        assert SECRET_VALUE not in text
    assert "greeting" in texts[-2]  # the stream did carry the function's log lines


def test_actions_are_post_only_with_the_csrf_token_from_this_site(dash: CliDashboard, root: Path) -> None:
    base = f"{dash.url}s/{service_key(root)}/local"
    csrf = csrf_of(dash)
    form = b"function=hello&trigger=http&method=GET"
    assert fetch(f"{base}/invoke").status == 405
    assert fetch(f"{base}/invoke", method="POST", data=form).status == 403
    assert fetch(f"{base}/invoke", method="POST", data=form, headers={"X-CSRF-Token": "forged"}).status == 403
    assert fetch(f"{base}/rollback", method="POST", data=b"", headers={
        "X-CSRF-Token": csrf, "Sec-Fetch-Site": "cross-site"}).status == 403
    assert fetch(f"{base}/rollback", method="POST", data=b"", headers={
        "X-CSRF-Token": csrf, "Origin": "http://evil.example"}).status == 403
    assert fetch(f"{base}/invoke", method="POST", data=form, headers={"X-CSRF-Token": csrf}).status == 200
    # DNS rebinding: a foreign name pointed at 127.0.0.1 reaches the port, but not the dashboard
    assert fetch(dash.url, headers={"Host": f"evil.example:{dash.port}"}).status == 421
    assert fetch(dash.url, headers={"Host": f"localhost:{dash.port}"}).status == 200


def test_a_non_loopback_host_requires_the_token(page: Any, guarded: CliDashboard, dash: CliDashboard) -> None:
    assert guarded.token and len(guarded.token) >= 40
    assert guarded.printed.count(guarded.token) == 2  # the URL to open and the token itself, at start only
    assert dash.token is None and "token" not in dash.printed
    url = guarded.local_url
    for path in ("", "api/board", "fragments/matrix", "static/htmx-2.0.11.min.js"):
        refused = fetch(url + path)
        assert refused.status == 401, (path, refused.status)
        assert "token" in refused.body and "<table" not in refused.body
    assert fetch(url + "?token=" + "x" * len(guarded.token)).status == 401
    assert fetch(url, headers={"Authorization": "Bearer wrong"}).status == 401
    assert fetch(url + "api/board", headers={"Authorization": f"Bearer {guarded.token}"}).status == 200
    response = page.goto(url)
    assert response.status == 401 and "token is required" in page.content()
    response = page.goto(f"{url}?token={guarded.token}")
    assert response.status == 200 and page.url == url  # the token left the address bar for a cookie
    page.locator("#matrix table").wait_for()
    cookie = next(c for c in page.context.cookies() if c["name"] == "multicloud_dashboard")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    # a POST with the cookie but without the page's CSRF token is still refused
    assert fetch(url + "api/board", method="POST", data=b"", headers={
        "Authorization": f"Bearer {guarded.token}"}).status == 403


def test_a_dead_letter_retried_from_the_page_is_handled(page: Any, dash: CliDashboard, root: Path,
                                                        tmp_path: Path) -> None:
    from multicloud.errors import UnsupportedError
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project

    flag, done = tmp_path / "flag", tmp_path / "done"
    flag.write_text("fail until this file is gone")
    provider = provider_for(Project.load(root), "local")
    body = json.dumps({"flag": str(flag), "done": str(done)}).encode()
    try:
        provider.send("queue", "jobs", body, {})
    except UnsupportedError as exc:
        page.goto(f"{dash.url}s/{service_key(root)}/local")
        page.locator('[data-dead-letters="not-available"]').wait_for(timeout=15_000)
        raise AssertionError(f"local has no dead letters yet: {exc.message}") from exc
    page.goto(f"{dash.url}s/{service_key(root)}/local")
    row = page.locator("#dead-letters tr[data-dead-letter]")
    row.first.wait_for(timeout=60_000)  # the function failed max_attempts (2) times: dead-lettered
    assert not done.exists()
    flag.unlink()
    row.first.locator("button.retry").click()
    page.locator("#action-result", has_text="sent back").wait_for(timeout=15_000)
    wait_for(done.exists, 30, "the retried message to be handled")
    assert json.loads(done.read_text()) == {"flag": str(flag), "done": str(done)}
    page.locator("#dead-letters tr[data-dead-letter]").first.wait_for(state="detached", timeout=15_000)


def test_rollback_from_the_page_goes_back_under_the_deploy_lock(page: Any, dash: CliDashboard, root: Path) -> None:
    from multicloud.locking import new_owner
    from multicloud.orchestrate import provider_for
    from multicloud.project import Project

    key = service_key(root)
    page.goto(f"{dash.url}s/{key}/local")
    # someone else holds the deploy lock: the page's rollback is refused like the CLI's, nothing changes
    provider = provider_for(Project.load(root), "local")
    holder = new_owner("deploy", 600)
    assert provider.acquire_lock(holder) is None
    try:
        page.click("#rollback")
        refused = page.locator('#action-result .result[data-ok="false"]')
        refused.wait_for(timeout=30_000)
        assert "is locked by" in refused.inner_text() and "multicloud unlock" in refused.inner_text()
    finally:
        provider.release_lock(holder)
    page.click("#rollback")
    page.locator('#action-result .result[data-ok="true"]', has_text="rolled back").wait_for(timeout=60_000)
    page.fill('input[name="path"]', "/hello")
    page.click("#invoke")
    page.locator("#invoke-result pre.answer").wait_for(timeout=15_000)
    assert json.loads(page.locator("#invoke-result pre.answer").inner_text())["version"] == "v1"
    page.locator("#cell-status", has_text="rollback of version").wait_for(timeout=15_000)
    assert provider.acquire_lock(new_owner("deploy", 60)) is None  # the page's rollback released the lock
