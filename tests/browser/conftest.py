"""Browser tests: Debian's chromium, driven by Playwright, against a real `streamlit run`.

One server per pytest process (each xdist worker starts its own, on a free
port) over a temporary SQLite file seeded with the same demo ledger as
`billing seed-demo`, with a fixed `today` so every run sees the same rows.
Each test gets a fresh browser context: no cookie, no login carried over.

Playwright cannot download browsers here, so it launches the system chromium;
without it the tests fail loudly (CI installs it in `.ci/run`), never skip.

Waiting, as STYLE.md's "Known traps" says: the server's `/_stcore/health`
first, then the app's websocket (`data-test-connection-state=CONNECTED`),
then the end of the script run (`data-test-script-state=notRunning`).
"""

from __future__ import annotations

import datetime as dt
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Locator,
    Page,
    Playwright,
    expect,
    sync_playwright,
)
from playwright.sync_api import (
    Error as PlaywrightError,
)

# The server, its seeded ledger and the demo passwords are shared with the load tests.
# docs/screenshots.py and the tests import them from here.
from tests.app_server import demo_password, seed_database, start_server, stop_server

__all__ = ["demo_password", "seed_database", "start_server", "stop_server"]

CHROMIUM = Path(os.environ.get("BILLING_TEST_CHROMIUM", "/usr/bin/chromium"))
# Milliseconds: a page's first run imports Polars and Plotly, so allow for a slow machine.
RUN_TIMEOUT_MS = 30_000
VIEWPORT = {"width": 1400, "height": 900}
# How long a fresh page must stay idle: the cookie component's answer reruns it once more.
FIRST_RUN_QUIET_MS = 800
# Row height in st.dataframe / st.data_editor grids, header included (Streamlit's default).
GRID_ROW_PX = 35


def require_chromium() -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: the browser tests need Debian's chromium "
            "(`apt-get install chromium`; `.ci/run` does it). Not skipping: CI must not pass "
            "without them."
        )


@pytest.fixture(scope="session")
def app_server() -> Iterator[str]:
    """The base URL of a running app over a freshly seeded demo database (one per worker)."""
    with tempfile.TemporaryDirectory(prefix="billing-browser-") as directory:
        folder = Path(directory)
        url = seed_database(folder)
        log = folder / "streamlit.log"
        process, base_url = start_server(url, log)
        try:
            yield base_url
        finally:
            stop_server(process)
            output = log.read_text(errors="replace")
            if "Traceback" in output:  # an exception the page showed may be in here
                sys.stderr.write(f"streamlit output:\n{output}\n")


@pytest.fixture(scope="session")
def playwright_instance() -> Iterator[Playwright]:
    require_chromium()
    playwright = sync_playwright().start()
    try:
        yield playwright
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def browser(playwright_instance: Playwright) -> Iterator[Browser]:
    browser = launch_chromium(playwright_instance)
    try:
        yield browser
    finally:
        browser.close()


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's chromium, headless (Playwright's own download is not available here)."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM),
        args=["--no-sandbox", "--disable-dev-shm-usage"],
        headless=True,
    )


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    """A fresh context per test: no cookies, so nobody is logged in."""
    context = browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    context.set_default_timeout(RUN_TIMEOUT_MS)
    try:
        yield context
    finally:
        context.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> object:
    """On a failed browser test, save a full-page screenshot and name it in the report."""
    report = yield
    tab = getattr(item, "funcargs", {}).get("page")
    if call.when == "call" and report.failed and isinstance(tab, Page):
        folder = Path(tempfile.mkdtemp(prefix="billing-browser-failure-"))
        shot = folder / f"{item.name}.png"
        try:
            tab.screenshot(path=shot, full_page=True)
            report.sections.append(("browser screenshot", str(shot)))
        except PlaywrightError as error:
            report.sections.append(("browser screenshot", f"none: {error}"))
    return report


@pytest.fixture
def page(context: BrowserContext, app_server: str) -> Page:
    """A tab on the app's start page, its first script run finished."""
    tab = context.new_page()
    tab.goto(app_server)
    wait_for_app(tab)
    settle(tab, quiet_ms=FIRST_RUN_QUIET_MS)
    return tab


# --- helpers the tests and the screenshot script share ------------------------------------


def wait_for_app(page: Page, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until the websocket is up and the script has finished its run."""
    app = page.locator(".stApp")
    expect(app).to_have_attribute("data-test-connection-state", "CONNECTED", timeout=timeout_ms)
    expect(app).to_have_attribute("data-test-script-state", "notRunning", timeout=timeout_ms)


def settle(page: Page, *, quiet_ms: int = 300, timeout_ms: int = RUN_TIMEOUT_MS) -> None:
    """Until the app has stayed idle for `quiet_ms`: the reruns a click starts have all ended.

    A click's rerun starts a few milliseconds after it, and the authenticator's
    cookie component answers its first render with one more rerun, so a single
    look at `notRunning` can see the calm before the run, not after it.
    """
    app = page.locator(".stApp")
    deadline = time.monotonic() + timeout_ms / 1000
    quiet_since: float | None = None
    while True:
        connection = app.get_attribute("data-test-connection-state")
        script = app.get_attribute("data-test-script-state")
        now = time.monotonic()
        if connection != "CONNECTED" or script != "notRunning":
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif (now - quiet_since) * 1000 >= quiet_ms:
            return
        if now > deadline:
            raise AssertionError(
                f"the app was still busy after {timeout_ms} ms "
                f"(connection {connection}, script {script})"
            )
        page.wait_for_timeout(50)


def log_in(page: Page, username: str, password: str | None = None) -> None:
    """Fill the login form, press "Log in", and wait until the sidebar offers "Log out".

    A submit that lands while the cookie component's first rerun replaces the
    form is lost (the fields stay filled, nothing happens); one more press
    is then what a person would do, and cannot log in twice.
    """
    settle(page, quiet_ms=FIRST_RUN_QUIET_MS)
    page.get_by_role("textbox", name="Username").fill(username)
    page.get_by_role("textbox", name="Password").fill(password or demo_password(username))
    log_out = page.get_by_role("button", name="Log out")
    for attempt in range(3):
        if attempt:
            settle(page)
            if log_out.is_visible():
                break
        page.get_by_role("button", name="Log in").click()
        try:
            expect(log_out).to_be_visible(timeout=RUN_TIMEOUT_MS // 3)
            break
        except AssertionError:
            if page.get_by_text("Username or password is incorrect.").is_visible():
                raise
    expect(log_out).to_be_visible()
    settle(page)


def nav_titles(page: Page) -> list[str]:
    """The page titles in the sidebar navigation, in order."""
    links = page.get_by_test_id("stSidebarNav").get_by_test_id("stSidebarNavLink")
    # The link's text also holds its material icon's name; the label is the markdown part.
    return [text.strip() for text in links.get_by_test_id("stMarkdownContainer").all_inner_texts()]


def go(page: Page, title: str) -> None:
    """Open a page from the sidebar navigation and wait for its run to end."""
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_role("link", name=title, exact=True).click()  # the icon is aria-hidden
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    settle(page)


def widget(page: Page, key: str) -> Locator:
    """The element a widget with `key=` renders in (Streamlit marks it `.st-key-<key>`)."""
    return page.locator(f".st-key-{key}")


def choose(page: Page, key: str, option: str) -> None:
    """Pick `option` (its text, or the start of it) in the selectbox with `key=`."""
    box = widget(page, key).get_by_role("combobox")
    box.click()
    box.fill(option)  # the list filters as one types, so the option is in view
    page.get_by_role("option", name=option).first.click()
    settle(page)


def type_into(page: Page, key: str, text: str) -> None:
    """Replace the text of the text input with `key=` and commit it (Enter reruns the page)."""
    box = widget(page, key).get_by_role("textbox")
    box.fill(text)
    box.press("Enter")
    settle(page)


def fill_new_rows(page: Page, key: str, rows: list[list[str]]) -> None:
    """Type rows into an empty `st.data_editor(num_rows="dynamic")` with `key=`.

    The editor is a glide-data-grid canvas, so cells are reached by position
    and keyboard: clicking the trailing "add row" line appends a row and opens
    its first cell's editor; later cells are reached by clicking the row's
    first cell, then ArrowRight, then Enter to open the editor. Each commit
    reruns the page and may reset the grid's selection, hence the fresh click
    for every cell rather than Tab from one cell to the next.
    """
    grid = widget(page, key).get_by_test_id("stDataFrameResizable")
    overlay = page.get_by_test_id("portal").locator(".gdg-clip-region")
    for index, row in enumerate(rows):
        first_cell = {"x": 60, "y": GRID_ROW_PX * (index + 1) + GRID_ROW_PX / 2}
        for column, text in enumerate(row):
            grid.scroll_into_view_if_needed()
            grid.click(position=first_cell)
            if column:
                if overlay.count():  # the click opened the first cell: leave it untouched
                    page.keyboard.press("Escape")
                    expect(overlay).to_have_count(0)
                for _ in range(column):
                    page.keyboard.press("ArrowRight")
                page.keyboard.press("Enter")
            expect(overlay).to_be_visible()
            cell = overlay.locator("textarea, input").first
            cell.fill(text)
            cell.press("Tab")
            expect(overlay).to_have_count(0)
            settle(page)


def download_text(page: Page, key: str) -> str:
    """The file a `st.download_button` with `key=` hands the browser, as text."""
    with page.expect_download() as download:
        widget(page, key).get_by_role("button").click()
    return Path(download.value.path()).read_text(encoding="utf-8")


def metric_value(page: Page, label: str) -> str:
    """The value shown by the `st.metric` labelled exactly `label`."""
    metric = page.get_by_test_id("stMetric").filter(
        has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True)
    )
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def download_bytes(page: Page, key: str) -> bytes:
    """The file a `st.download_button` with `key=` hands the browser, as bytes (a PDF, say)."""
    with page.expect_download() as download:
        widget(page, key).get_by_role("button").click()
    return Path(download.value.path()).read_bytes()


def set_date(page: Page, key: str, day: dt.date) -> None:
    """Type `day` into the `st.date_input` with `key=` and commit it.

    The field is three spin buttons (year, month, day) that move on by
    themselves once a segment is full; closing the field with Escape commits
    the value (outside a form it reruns the page, inside one it waits for
    the submit).
    """
    field = widget(page, key)
    field.get_by_role("spinbutton", name="year").click()
    page.keyboard.type(day.strftime("%Y%m%d"))
    page.keyboard.press("Escape")
    expect(field.locator("input[type=date]")).to_have_value(day.isoformat())
    settle(page)


def dataframe(page: Page, column: str) -> Locator:
    """The `st.dataframe` (or data editor) that has a column headed exactly `column`.

    Dataframes do not carry their `key=` as a class, so they are found by what
    a user reads; the header is in the grid's accessibility table, not on the canvas.
    """
    heading = page.locator("th", has_text=re.compile(rf"^{re.escape(column)}$"))
    return page.get_by_test_id("stDataFrame").filter(has=heading)


def grid_rows(grid: Locator) -> list[dict[str, str]]:
    """The rows a dataframe has drawn, as {column heading: cell text}.

    Read from the accessibility table glide-data-grid keeps beside its canvas:
    cells hold the raw value (`2527`, not `2527.00`; dates as `2026-06-30`), and
    only the rows and columns in view are there, so this suits short, narrow
    tables or the top-left of big ones (a table's CSV download has the rest).
    """
    return grid.locator("table[role=grid]").evaluate(
        """table => {
            const heads = [...table.querySelectorAll("thead th")].map(th => th.textContent.trim());
            return [...table.querySelectorAll("tbody tr")].map(tr => Object.fromEntries(
                [...tr.querySelectorAll("td")].map((td, i) => [heads[i], td.textContent.trim()])
            ));
        }"""
    )


def select_grid_row(grid: Locator, index: int) -> None:
    """Tick row `index` (0 = first data row) of a dataframe with `on_select` row selection.

    The tick box is the grid's leftmost column; rows are `GRID_ROW_PX` high
    under a header of the same height.
    """
    canvas = grid.get_by_test_id("stDataFrameResizable")
    canvas.scroll_into_view_if_needed()
    canvas.click(position={"x": 17, "y": GRID_ROW_PX * (index + 1) + GRID_ROW_PX / 2})
    settle(grid.page)
