"""Floor for first paint: a bare Panel page with one 2,000-point deck layer, same stack as /app.

Started by bench/bench_app.py next to the real server, so both are measured under the same machine load.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import panel as pn
from fastapi import FastAPI
from panel.io.fastapi import add_applications

api = FastAPI()


def view():
    pn.extension("deckgl")
    rng = np.random.default_rng(0)
    n = 2000
    df = pd.DataFrame({"lon": 113.42 + rng.random(n) * 0.06, "lat": 23.07 + rng.random(n) * 0.05,
                       "r": np.full(n, 200, "uint8"), "g": np.full(n, 50, "uint8"), "b": np.full(n, 50, "uint8")})
    spec = {"initialViewState": {"longitude": 113.45, "latitude": 23.1, "zoom": 12},
            "views": [{"@@type": "MapView", "controller": True}], "mapStyle": None,
            "layers": [{"@@type": "ScatterplotLayer", "id": "tickets", "data": df, "getPosition": "@@=[lon, lat]",
                        "getFillColor": "@@=[r, g, b]", "radiusMinPixels": 3}]}
    deck = pn.pane.DeckGL(spec, sizing_mode="stretch_width", height=600)
    return pn.template.BootstrapTemplate(title="baseline", main=[deck])


add_applications({"/app": view}, app=api, title="baseline")
