"""Fixtures for the dashboard's e2e tests: tests/e2e/aws's moto server and Lambda emulation image and
tests/e2e/docker's engine (loaded from those files, not copied), and Debian's chromium driven by
Playwright. Helpers live in dashboard_support.py."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_support import CHROMIUM, aws_fixtures, docker_fixtures, launch_chromium

# Re-exported fixtures: pytest registers what a conftest module holds.
moto_endpoint = aws_fixtures.moto_endpoint
lambda_images = aws_fixtures.lambda_images
engine = docker_fixtures.engine


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Chromium under Playwright's sync API, one per module: while sync_playwright() is open, its event loop
    runs in the main thread and every later `asyncio.run` in the session fails, so it must end with the
    dashboard's modules rather than with the session."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    tab.on("dialog", lambda dialog: dialog.accept())  # every action asks; the test says yes
    yield tab
    context.close()
