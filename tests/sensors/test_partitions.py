"""sensor_reading is partitioned by month (migration 0015): partitions made ahead, rows never refused, retention."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from spatial.db import partitions
from spatial.models import Sensor


def _sensor(session) -> int:
    s = Sensor(code="WL-P", sensor_type="water_level", name="WL-P", unit="m", geom="SRID=4326;POINT(113.42 23.1)")
    session.add(s)
    session.flush()
    return s.id


def _insert(session, sid: int, times: list[datetime]) -> None:
    session.execute(sa.text("INSERT INTO sensor_reading (sensor_id, observed_at, value) "
                            "SELECT :s, t, 0.1 FROM unnest(CAST(:ts AS timestamptz[])) AS t"), {"s": sid, "ts": times})


def _where(session) -> dict[str, int]:
    return dict(session.execute(sa.text(
        "SELECT tableoid::regclass::text, count(*) FROM sensor_reading GROUP BY 1")).all())


def test_readings_land_in_monthly_partitions_and_none_is_refused(session):
    assert session.scalar(sa.text("SELECT count(*) FROM pg_partitioned_table "
                                  "WHERE partrelid = 'sensor_reading'::regclass")) == 1
    out = partitions.maintain(session)
    now = datetime.now(UTC)
    names = [p for p, _ in partitions.partitions(session, "sensor_reading")]
    assert f"sensor_reading_y{now:%Y}m{now:%m}" in names and names[-1] == "sensor_reading_default"
    assert len(names) >= 1 + partitions.MONTHS_AHEAD + 1 and out["sensor_reading"]["dropped"] == 0
    sid = _sensor(session)
    old = [datetime(2024, 1, d, 12, tzinfo=UTC) for d in (1, 15, 31)]
    _insert(session, sid, [now - timedelta(minutes=5), *old])
    where = _where(session)
    assert where[f"sensor_reading_y{now:%Y}m{now:%m}"] == 1 and where["sensor_reading_default"] == 3  # kept
    # a partition for January 2024 takes its rows out of DEFAULT: none lost, none doubled
    months = (now.year - 2024) * 12 + now.month - 1
    assert session.scalar(sa.text("SELECT onemap_ensure_partitions('sensor_reading', 'observed_at', :b, 0)"),
                          {"b": months}) >= 1
    where = _where(session)
    assert where["sensor_reading_y2024m01"] == 3 and "sensor_reading_default" not in where
    # the primary key still holds across partitions: a re-sent reading is a no-op
    session.execute(sa.text("INSERT INTO sensor_reading (sensor_id, observed_at, value) VALUES (:s, :t, 9) "
                            "ON CONFLICT (sensor_id, observed_at) DO NOTHING"), {"s": sid, "t": old[0]})
    assert session.scalar(sa.text("SELECT count(*) FROM sensor_reading WHERE sensor_id = :s"), {"s": sid}) == 4


def test_retention_drops_whole_months_only(session):
    partitions.maintain(session)
    sid = _sensor(session)
    now = datetime.now(UTC)
    months = (now.year - 2024) * 12 + now.month - 1
    session.execute(sa.text("SELECT onemap_ensure_partitions('sensor_reading', 'observed_at', :b, 0)"), {"b": months})
    _insert(session, sid, [datetime(2024, 1, 10, tzinfo=UTC), datetime(2024, 2, 10, tzinfo=UTC),
                           now - timedelta(minutes=1)])
    # cut-off inside February: January goes, February (not wholly before the cut-off) stays
    dropped = session.scalar(sa.text("SELECT onemap_drop_partitions('sensor_reading', '2024-02-20T00:00:00Z')"))
    assert dropped == 1
    left = session.scalars(sa.text("SELECT observed_at FROM sensor_reading WHERE sensor_id = :s ORDER BY 1"),
                           {"s": sid}).all()
    assert [t.month for t in left[:1]] == [2] and len(left) == 2
    names = [p for p, _ in partitions.partitions(session, "sensor_reading")]
    assert "sensor_reading_y2024m01" not in names and "sensor_reading_default" in names
