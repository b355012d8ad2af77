"""Screenshots of the main pages for the README: `make screenshots` (or run this file).

Starts the app the way the browser tests do (tests/browser/conftest.py): a
temporary SQLite file seeded with `billing seed-demo`'s data dated up to
today, `streamlit run app.py` on a free port, Debian's chromium through
Playwright. Logs in as the demo admin, picks USD (the demo ledger's main
currency) for the report pages, and saves one full-page PNG per page under
`docs/screenshots/`, 1400 px wide.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from tests.browser.conftest import (  # noqa: E402
    VIEWPORT,
    choose,
    go,
    launch_chromium,
    log_in,
    require_chromium,
    seed_database,
    settle,
    start_server,
    stop_server,
    wait_for_app,
    widget,
)

OUT = REPO / "docs" / "screenshots"
# File name → page title in the navigation (ui/navigation.py).
SHOTS = {
    "overview": "Overview",
    "invoices": "Invoices",
    "payments": "Payments",
    "aging": "Aging",
    "dso": "DSO & collections",
    "cash_flow": "Cash flow",
    "customers": "Customers",
}
CURRENCY = "USD"
MAX_HEIGHT = 6000


def full_page(page: Page, path: Path) -> None:
    """The whole page, not only the first 900 px.

    Streamlit scrolls its main area inside the window, so Playwright's
    `full_page` sees one screen; the window is made as tall as the content
    for the shot, then restored.
    """
    height = page.evaluate(
        "() => Math.max(...[...document.querySelectorAll("
        "'[data-testid=stMain], [data-testid=stAppViewContainer], [data-testid=stSidebarContent]'"
        ")].map((e) => e.scrollHeight))"
    )
    tall = min(max(int(height), VIEWPORT["height"]), MAX_HEIGHT)
    page.set_viewport_size({"width": VIEWPORT["width"], "height": tall})
    settle(page)
    page.wait_for_timeout(800)  # charts redraw at the new size
    page.screenshot(path=path, full_page=True)
    page.set_viewport_size(VIEWPORT)  # type: ignore[arg-type]
    settle(page)


def take(base_url: str, out: Path, user: str) -> list[Path]:
    """Log in as `user` and save each page in `SHOTS` as `<name>.png` under `out`."""
    out.mkdir(parents=True, exist_ok=True)
    saved = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            page = browser.new_page(viewport=VIEWPORT)  # type: ignore[arg-type]
            page.set_default_timeout(60_000)
            page.goto(base_url)
            wait_for_app(page)
            log_in(page, user)
            for name, title in SHOTS.items():
                go(page, title)
                if widget(page, "currency").count():  # report pages: the demo's main currency
                    choose(page, "currency", CURRENCY)
                page.mouse.move(0, 0)  # no hover effects or focus rings in the picture
                page.evaluate("() => document.activeElement && document.activeElement.blur()")
                path = out / f"{name}.png"
                full_page(page, path)
                saved.append(path)
                print(f"saved {path}")
        finally:
            browser.close()
    return saved


def main() -> None:
    """Seed a throwaway database, serve the app on it, and take the screenshots."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="folder for the PNG files")
    parser.add_argument("--user", default="admin", help="demo login to use (admin sees all)")
    parser.add_argument("--invoices", type=int, default=3000, help="demo ledger size")
    args = parser.parse_args()
    require_chromium()
    with tempfile.TemporaryDirectory(prefix="billing-screenshots-") as directory:
        folder = Path(directory)
        url = seed_database(folder, invoices=args.invoices, today=dt.date.today())
        process, base_url = start_server(url, folder / "streamlit.log")
        try:
            take(base_url, args.out, args.user)
        finally:
            stop_server(process)


if __name__ == "__main__":
    main()
