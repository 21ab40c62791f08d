"""Screenshot of the leadership view over the real Shanghai Lujiazui OSM basemap.

    .venv/bin/python bench/basemap_shanghai.py [--out docs/screenshots]

There is no real district there, so the demo district (3,000 synthetic tickets) is generated,
then moved and scaled (about its centre, in degrees) to fit inside the extent of the Shanghai
layers; its own synthetic roads and buildings are dropped and the OSM layers are imported with
``onemap osm import`` clipped to that district. Everything but the basemap is synthetic. Writes
``basemap_shanghai.png`` (overview) and ``basemap_shanghai_3d.png`` (zoomed in, 3D buildings).
Database ``onemap_basemap_shanghai``; Chromium with every non-local request blocked.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_app import start_server  # noqa: E402
from data.load import load_demo  # noqa: E402
from spatial.db import migrate  # noqa: E402
from spatial.db.engine import drop_database, get_engine  # noqa: E402
from spatial.io import basemap  # noqa: E402
from spatial.settings import get_settings  # noqa: E402
from tests.app.conftest import ARGS, CHROMIUM, LAYERS_LOADED, block_external, open_view  # noqa: E402
from tests.conftest import role_env  # noqa: E402

DB = "onemap_basemap_shanghai"
DATA = Path("/work/shared/data/02_osm_roads_buildings")
LAYERS = [DATA / f"shanghai_lujiazui_{t}.geojson" for t in ("roads", "buildings", "water", "landuse", "pois")]
#: Extent of the Shanghai layers (W, S, E, N degrees), PROVENANCE.txt.
TARGET = (121.4813, 31.2269, 121.5198, 31.2504)


def build(url: str) -> None:
    drop_database(get_settings().owner_url_for(url))
    migrate.upgrade(url)
    load_demo(tickets=3000, url=url, replace=True)
    owner = get_engine(get_settings().owner_url_for(url))
    with owner.begin() as conn:
        w, s, e, n = conn.execute(sa.text("SELECT ST_XMin(x), ST_YMin(x), ST_XMax(x), ST_YMax(x) FROM "
                                          "(SELECT ST_Extent(geom) x FROM admin_unit WHERE level = 1) q")).one()
        k = 0.98 * min((TARGET[2] - TARGET[0]) / (e - w), (TARGET[3] - TARGET[1]) / (n - s))
        cx, cy = (w + e) / 2, (s + n) / 2
        tx, ty = (TARGET[0] + TARGET[2]) / 2, (TARGET[1] + TARGET[3]) / 2
        conn.execute(sa.text("DELETE FROM road; DELETE FROM building"))
        cols = conn.execute(sa.text("SELECT f_table_name, f_geometry_column FROM geometry_columns "
                                    "WHERE f_table_schema = 'public'")).all()
        for table, col in cols:
            conn.execute(sa.text(f"UPDATE {table} SET {col} = ST_Translate(ST_Scale(ST_Translate({col}, "
                                 f"{-cx}, {-cy}), {k}, {k}), {tx}, {ty})"))
        conn.execute(sa.text("UPDATE admin_unit SET area_m2 = ST_Area(geom::geography)"))
    res = basemap.import_osm(LAYERS, clip_to_data=True, url=url)  # the whole extent: context around the district
    print({t: c["stored"] for t, c in res["themes"].items()}, "clipped to the", res["clip"])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    ap.add_argument("--reuse", action="store_true")
    args = ap.parse_args()
    url = get_settings().sqlalchemy_url(DB)
    os.environ.update(role_env(DB))
    get_settings.cache_clear()
    if not args.reuse:
        build(url)
    from playwright.sync_api import sync_playwright

    proc, base = start_server(url)
    external: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 950})
            block_external(page, external)
            open_view(page, f"{base}/app?role=leadership")
            page.wait_for_timeout(3000)
            page.wait_for_function(LAYERS_LOADED, timeout=30_000)
            page.screenshot(path=str(Path(args.out) / "basemap_shanghai.png"))
            page.get_by_label("3D buildings").check()
            page.wait_for_timeout(2000)
            page.wait_for_function(LAYERS_LOADED, timeout=30_000)
            # zoom in with the mouse wheel over Lujiazui (the view reports back to the server as a user's would)
            pt = page.evaluate("""() => { const d = _dv.deckGL; const [x, y] = d.getViewports()[0].project(
              [121.5010, 31.2385]); const r = d.getCanvas().getBoundingClientRect();
              return {x: x + r.left, y: y + r.top} }""")
            page.mouse.move(pt["x"], pt["y"])
            for _ in range(2):
                page.mouse.wheel(0, -120)
                page.wait_for_timeout(400)
            page.mouse.move(100, 500, steps=8)  # leave the map: no hover highlight in the picture
            page.wait_for_timeout(4000)
            page.wait_for_function(LAYERS_LOADED, timeout=30_000)
            page.screenshot(path=str(Path(args.out) / "basemap_shanghai_3d.png"))
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert not external, external
    print("screenshots written; external requests: 0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
