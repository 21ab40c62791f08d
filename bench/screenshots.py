"""Screenshots of the three views for docs/screenshots/, from a running server on the demo district.

    ./dev.sh run &                     # or: ONEMAP_DEMO_SIMULATE_SECONDS=5 .venv/bin/onemap serve
                                       # (workers need fresh fixes, else the dispatcher has no candidates)
    .venv/bin/python bench/screenshots.py [--url http://127.0.0.1:5006] [--out docs/screenshots]

Drives Debian Chromium (software WebGL, every non-local request blocked): the
leadership overview, the dispatcher after a click on the most urgent ticket
(candidates drawn), and the planner after a 20-year, 60-minute design storm.

``--district NAME`` takes the three views of any district as it is (a recipe of
docs/districts.md), as ``NAME_leadership.png``, ``NAME_dispatcher.png`` and
``NAME_planner.png``: cameras and 3D buildings on in the leadership view, the
dispatcher without a click when it has no open ticket, the planner as it opens
(a district without a DEM says so).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.app.conftest import (  # noqa: E402
    ARGS,
    CHROMIUM,
    LAYERS_LOADED,
    block_external,
    click_layer_object,
    open_view,
)


@contextlib.contextmanager
def _browser_page(external: list[str]):
    """A 1500 x 950 page of headless Debian Chromium; non-local requests are blocked and listed in ``external``."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1500, "height": 950})
        block_external(page, external)
        try:
            yield page
        finally:
            browser.close()


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", default="http://127.0.0.1:5006")
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--district", help="file prefix: the three views of the served district as it is")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.district:
        return district_views(args.url, out, args.district)
    external: list[str] = []
    with _browser_page(external) as page:
        t = open_view(page, f"{args.url}/app?role=leadership")
        page.wait_for_timeout(3000)  # trend chart and tables load after the map
        page.screenshot(path=str(out / "leadership.png"))
        print(f"leadership: first paint {t:.2f} s")

        t = open_view(page, f"{args.url}/app?role=dispatcher")
        click_layer_object(page, "tickets", 0)
        page.get_by_role("button", name="Assign").first.wait_for(timeout=15_000)
        page.wait_for_function(LAYERS_LOADED, timeout=15_000)
        page.screenshot(path=str(out / "dispatcher.png"))
        print(f"dispatcher: first paint {t:.2f} s")

        open_view(page, f"{args.url}/app?role=planner")
        page.get_by_label("Return period (years)").select_option("20")
        page.get_by_label("Storm duration (min)").select_option("60")
        t0 = time.perf_counter()
        page.get_by_role("button", name="Run forecast").click()
        page.get_by_text("finished in").wait_for(timeout=180_000)
        page.wait_for_function("() => _dv.deckGL.props.layers.some(l => l.id === 'flood')", timeout=15_000)
        page.wait_for_function(LAYERS_LOADED, timeout=30_000)
        page.wait_for_timeout(1000)
        page.screenshot(path=str(out / "planner.png"))
        print(f"planner: forecast shown after {time.perf_counter() - t0:.1f} s")
    if external:
        print(f"non-local requests were blocked: {external}", file=sys.stderr)
        return 1
    return 0


def district_views(url: str, out: Path, name: str) -> int:
    """The three views of the served district as it is, with its basemap."""
    external: list[str] = []
    with _browser_page(external) as page:
        t = open_view(page, f"{url}/app?role=leadership")
        for label in ("Cameras", "3D buildings"):
            box = page.get_by_label(label)
            if box.count():
                box.first.check()
        page.wait_for_timeout(2000)
        page.wait_for_function(LAYERS_LOADED, timeout=30_000)
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / f"{name}_leadership.png"))
        print(f"{name} leadership: first paint {t:.2f} s")
        t = open_view(page, f"{url}/app?role=dispatcher")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / f"{name}_dispatcher.png"))
        print(f"{name} dispatcher: first paint {t:.2f} s")
        t = open_view(page, f"{url}/app?role=planner")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / f"{name}_planner.png"))
        print(f"{name} planner: first paint {t:.2f} s")
    if external:
        print(f"non-local requests were blocked: {external}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
