"""``onemap flood calibrate`` / ``skill`` on real PostGIS: an event's rain-gauge and water-level readings.

The readings are made by the model itself (rain x 1.3 of the gauge record); calibrating the rain factor
from them recovers 1.3 within 1 %, and ``flood skill`` with the saved calibration scores NSE > 0.999.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
import rasterio
from pyproj import Transformer

from flood_model import Hyetograph, run_forecast
from spatial.cli.main import main
from spatial.db.engine import session_scope
from spatial.models import Sensor, SensorReading
from spatial.profile import ProfileSpec, set_dem, store_profile
from tests.flood.test_calibration import _case

X0, Y0 = 500_000.0, 2_550_000.0  # EPSG:32650 origin of the small DEM (near Guangzhou)


def test_calibrate_and_skill_from_sensor_readings(committed, tmp_path, capsys):
    rain, kw = _case()
    grid = kw["dem"]
    dem = tmp_path / "dem.tif"
    ny, nx = grid.shape
    with rasterio.open(dem, "w", driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs="EPSG:32650",
                       transform=rasterio.Affine(grid.dx, 0, X0, 0, -grid.dy, Y0 + ny * grid.dy)) as dst:
        dst.write(grid.z.astype(np.float32), 1)
    gauges = {k: (X0 + x, Y0 + y) for k, (x, y) in kw["gauges"].items()}
    truth = run_forecast(str(dem), Hyetograph(rain.edges_s, rain.intensity_mm_h * 1.3), duration_s=kw["duration_s"],
                         gauges=gauges, record_interval_s=60.0, drainage_mm_h=20.0)  # the CLI's settings
    start = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0, second=0)
    to_ll = Transformer.from_crs(32650, 4326, always_xy=True)
    with session_scope() as s:
        store_profile(s, ProfileSpec(name="Test basin", timezone="Asia/Shanghai", metric_crs=32650))
        set_dem(s, dem)
        lon, lat = to_ll.transform(X0 + 100, Y0 + 100)
        rg = Sensor(code="RG-1", sensor_type="rain_gauge", name="rain", unit="mm/h",
                    geom=f"SRID=4326;POINT({lon} {lat})")
        s.add(rg)
        levels = {}
        for code, (x, y) in gauges.items():
            lon, lat = to_ll.transform(x, y)
            levels[code] = Sensor(code=code, sensor_type="water_level", name=code, unit="m",
                                  geom=f"SRID=4326;POINT({lon} {lat})")
            s.add(levels[code])
        s.flush()
        measured = np.r_[rain.intensity_mm_h, np.zeros(4)]  # the gauge as it recorded the storm, then 0
        for k, v in enumerate(measured):
            for m in range(5):
                s.add(SensorReading(sensor_id=rg.id, observed_at=start + timedelta(seconds=300 * k + 60 * m),
                                    value=float(v)))
        for r in truth.gauges.itertuples():
            if r.t_s > 0:
                s.add(SensorReading(sensor_id=levels[r.gauge].id, observed_at=start + timedelta(seconds=r.t_s),
                                    value=float(r.depth_m)))
    event = f"{start.isoformat()}/{(start + timedelta(seconds=kw['duration_s'])).isoformat()}"
    # the forecast as the district would have run it (rain as measured): poor skill
    assert main(["flood", "skill", event, "--cell", "20", "--uncalibrated"]) == 0
    before = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert before["gauges"] == 3 and before["mean_nse"] < 0.99
    assert main(["flood", "calibrate", event, "--params", "rain_factor", "--cell", "20", "--save"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    record = json.loads(out[-1])
    assert record["parameters"]["rain_factor"] == pytest.approx(1.3, rel=0.01) and record["network"] is False
    assert main(["flood", "skill", event, "--cell", "20"]) == 0  # now with the saved calibration
    after = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert after["mean_nse"] > 0.999 and after["parameters"]["rain_factor"] == pytest.approx(1.3, rel=0.01)
    assert main(["flood", "calibrate", "2030-01-01T00:00Z/2030-01-01T02:00Z"]) == 2
    assert "the event must be in the past" in capsys.readouterr().err
