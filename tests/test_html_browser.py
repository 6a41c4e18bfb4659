"""The HTML report in a real headless browser (Debian's ``chromium``, driven by playwright).

The page renders, logs no console error, makes no request beyond its own file,
runs no injected script, draws a non-blank screenshot, and its case filter works.
``.ci/run`` installs chromium; without it (a developer machine) these tests skip.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_prodgate.output.html import html_report
from report_factory import reports

CHROMIUM = shutil.which("chromium")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
EVIL = '<script>alert("x")</script><img src=x onerror=alert(2)>'


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_api.sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile), executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1100, "height": 1400},
        )  # fmt: skip
        yield context
        context.close()


class Page:
    """A page loaded from a file, with every request, console message and dialog it caused."""

    def __init__(self, context: Any, path: Path) -> None:
        self.requests: list[str] = []
        self.console: list[tuple[str, str]] = []
        self.dialogs: list[str] = []
        self.page = context.new_page()
        self.page.on("request", lambda r: self.requests.append(r.url))
        self.page.on("console", lambda m: self.console.append((m.type, m.text)))
        self.page.on("pageerror", lambda e: self.console.append(("pageerror", str(e))))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.url = path.as_uri()
        self.page.goto(self.url, wait_until="load")


def _load(browser: Any, tmp_path: Path, text: str) -> Page:
    path = tmp_path / "report.html"
    path.write_text(text, encoding="utf-8")
    return Page(browser, path)


def test_the_page_renders_offline_without_errors_and_is_not_blank(
    browser: Any, tmp_path: Path
) -> None:
    current, _ = reports(300, flipped=20, ids=lambda i: f"{EVIL}{i}")
    page = _load(browser, tmp_path, html_report(current))
    assert page.requests == [page.url]  # the file itself, nothing else
    assert [m for m in page.console if m[0] in ("error", "pageerror")] == []
    assert page.dialogs == []  # the ids' <script> and onerror never ran
    assert page.page.locator("svg").count() >= 6
    assert page.page.locator("h3", has_text="Drills").count() == 1
    from PIL import Image

    shot = Image.open(io.BytesIO(page.page.screenshot(full_page=True))).convert("RGB")
    colours = shot.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 50  # text, tables and plots, not an empty page
    white = max(colours)[0] / (shot.width * shot.height)
    assert white < 0.95


def test_the_case_filter_and_pager_work(browser: Any, tmp_path: Path) -> None:
    current, _ = reports(300, flipped=20, service=False)
    suite = current.suites[0]
    assert suite.regression is not None
    page = _load(browser, tmp_path, html_report(current)).page
    box = page.locator("div.cases").first
    visible = box.locator("tbody tr:not([hidden])")
    assert visible.count() == 50  # one page of 50
    assert "300 rows, page 1 of 6" in box.locator(".page").inner_text()
    for kind in ("passed", "missed", "model_error"):
        box.locator(f"input[value={kind}]").uncheck()
    flipped = len(suite.regression.regressed) + len(suite.regression.fixed)
    assert visible.count() == flipped
    box.locator("input[value=flipped]").uncheck()
    assert visible.count() == 0
    for kind in ("passed", "missed", "model_error", "flipped"):
        box.locator(f"input[value={kind}]").check()
    box.locator("select.slice").select_option("lang:de")
    de = sum(1 for c in suite.cases if "lang:de" in c.tags)
    assert f"{de} rows" in box.locator(".page").inner_text()
    box.locator("input.q").fill("case-000007")
    assert visible.count() == 0  # case 7 is lang:en
    box.locator("select.slice").select_option("")
    assert visible.count() == 1
    box.locator("input.q").fill("")
    box.locator("button.next").click()
    assert "page 2 of 6" in box.locator(".page").inner_text()
