"""OGC API views and the local address geocoder's trigram index

* Schemas ``ogc`` (public collections) and ``ogc_staff`` (staff-only
  collections) hold curated views: only public columns, the privacy rules of
  :mod:`spatial.privacy` applied in SQL. The OGC API (``spatial.api.ogc``,
  tipg) publishes these schemas and nothing else; no view carries a
  reporter's name, phone, account or e-mail, photos or the ticket's
  ``attrs``. ``ogc`` leaves out tickets of sensitive categories, private
  sensors and the alerts derived from them, and workers altogether.
* ``pg_trgm`` and a trigram index on the address points' ``street ||
  housenumber`` text, for :mod:`spatial.geocode` (Open311 reports located by
  ``address_string`` only).
* ``sensor_reading`` becomes natively partitioned by month of ``observed_at``
  (same columns, primary key ``(sensor_id, observed_at)``, foreign key and BRIN
  index; rows copied), with a DEFAULT partition so no reading is ever refused.
  ``onemap_ensure_partitions(parent, column, months_back, months_ahead)``
  creates the monthly partitions (moving rows out of the DEFAULT partition
  first) and ``onemap_drop_partitions(parent, before)`` drops whole months
  older than a cut-off (retention); both SECURITY DEFINER (they run as the
  owner, the only role with DDL), run by the server's ``partitions`` job
  (``spatial.db.partitions``).

Revision ID: 0015
Revises: 0014
"""
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

#: The address text the geocoder matches on (kept in step with spatial.geocode.ADDRESS_TEXT).
ADDRESS_TEXT = "lower(coalesce(street, '') || ' ' || coalesce(housenumber, '') || ' ' || coalesce(name, ''))"

_TICKET_COLUMNS = """
  t.id, t.status, c.code AS category, c.name AS category_name, d.code AS department,
  t.priority, t.channel, t.created_at, t.updated_at, t.accepted_at, t.dispatched_at, t.resolved_at,
  t.closed_at, t.accept_due_at, t.resolve_due_at, t.accept_overdue, t.resolve_overdue,
  g.code AS grid, cm.code AS community, st.code AS street, t.address, t.description,
  t.merged_into_id, t.geom"""

_TICKET_FROM = """
FROM ticket t
JOIN category c ON c.id = t.category_id
LEFT JOIN department d ON d.id = t.department_id
LEFT JOIN admin_unit g ON g.id = t.grid_id
LEFT JOIN admin_unit cm ON cm.id = t.community_id
LEFT JOIN admin_unit st ON st.id = t.street_id"""

_SENSOR = """
SELECT s.id, s.code, s.sensor_type, s.name, s.unit, s.status, s.last_value, s.last_reading_at,
       s.thresholds ->> 'yellow' AS yellow_threshold, s.thresholds ->> 'orange' AS orange_threshold,
       s.thresholds ->> 'red' AS red_threshold,
       g.code AS grid, s.geom
FROM sensor s LEFT JOIN admin_unit g ON g.id = s.grid_id"""

_ALERT = """
SELECT a.id, a.source_kind, a.source_id, a.rule, a.level, a.state, a.started_at, a.updated_at,
       a.cleared_at, a.last_value, a.peak_value, a.message, g.code AS grid, a.geom
FROM alert a LEFT JOIN admin_unit g ON g.id = a.grid_id"""

#: Alerts of private sensors (spatial.privacy): staff-only.
_PRIVATE_ALERT = ("a.source_kind = 'sensor' AND EXISTS (SELECT 1 FROM sensor ps WHERE ps.code = a.source_id "
                  "AND ps.private)")

VIEWS: dict[str, tuple[str, str]] = {
    "ogc.admin_units": ("Administrative units: district (level 1), streets (2), communities (3)", """
SELECT u.id, u.code, u.name, u.level,
       CASE u.level WHEN 1 THEN 'district' WHEN 2 THEN 'street' WHEN 3 THEN 'community' END AS level_name,
       p.code AS parent, u.area_m2, u.population, u.geom
FROM admin_unit u LEFT JOIN admin_unit p ON p.id = u.parent_id WHERE u.level < 4"""),
    "ogc.grids": ("Management grids (level 4) with their community and street", """
SELECT u.id, u.code, u.name, p.code AS community, s.code AS street, u.area_m2, u.population, u.geom
FROM admin_unit u LEFT JOIN admin_unit p ON p.id = u.parent_id LEFT JOIN admin_unit s ON s.id = p.parent_id
WHERE u.level = 4"""),
    "ogc.tickets": ("Tickets of non-sensitive categories; no reporter contact", f"""
SELECT {_TICKET_COLUMNS} {_TICKET_FROM} WHERE NOT c.sensitive"""),
    "ogc_staff.tickets": ("All tickets, sensitive categories included (staff); no reporter contact", f"""
SELECT {_TICKET_COLUMNS}, c.sensitive, w.code AS worker, t.escalation_level, t.rating {_TICKET_FROM}
LEFT JOIN worker w ON w.id = t.assigned_worker_id"""),
    "ogc.cameras": ("Cameras with their field of view", """
SELECT cam.id, cam.code, cam.name, cam.status, cam.heading_deg, cam.fov_deg, cam.range_m, g.code AS grid, cam.geom
FROM camera cam LEFT JOIN admin_unit g ON g.id = cam.grid_id"""),
    "ogc.sensors": ("Public sensors with their latest value", f"{_SENSOR} WHERE NOT s.private"),
    "ogc_staff.sensors": ("All sensors, private ones included (staff), with their latest value",
                          _SENSOR.replace("g.code AS grid,", "g.code AS grid, s.private,")),
    "ogc.alerts": ("Alerts of public sources", f"{_ALERT} WHERE NOT ({_PRIVATE_ALERT})"),
    "ogc_staff.alerts": ("All alerts, those of private sensors included (staff)", _ALERT),
    "ogc.flood_warnings": ("Flood forecast warnings on roads and grids: level and forecast depth (m)", """
SELECT a.id, a.data ->> 'kind' AS feature_kind, a.data ->> 'feature_id' AS feature_id,
       a.data ->> 'name' AS name, a.level, a.state, a.last_value AS max_depth_m, a.peak_value AS peak_depth_m,
       a.started_at, a.updated_at, a.cleared_at, a.data ->> 'run_id' AS run_id, g.code AS grid, a.geom
FROM alert a LEFT JOIN admin_unit g ON g.id = a.grid_id
WHERE a.source_kind = 'flood'"""),
    "ogc_staff.workers": ("Field workers and their last position (staff)", """
SELECT w.id, w.code, w.name, d.code AS department, w.on_duty, w.workload, w.max_workload,
       array_to_string(w.skills, ',') AS skills, g.code AS home_grid, w.position_at, w.position_accuracy_m, w.geom
FROM worker w JOIN department d ON d.id = w.department_id LEFT JOIN admin_unit g ON g.id = w.home_grid_id"""),
}


PARTITION_FNS = r"""
CREATE OR REPLACE FUNCTION onemap_ensure_partitions(parent regclass, col text, months_back int, months_ahead int)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE
  m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date - make_interval(months => months_back);
  last date := date_trunc('month', now() AT TIME ZONE 'UTC')::date + make_interval(months => months_ahead);
  base text := (SELECT relname FROM pg_class WHERE oid = parent);
  part text; lo timestamptz; hi timestamptz; made int := 0;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = parent) THEN
    RAISE EXCEPTION '% is not a partitioned table', parent;
  END IF;
  WHILE m <= last LOOP
    part := format('%s_y%sm%s', base, to_char(m, 'YYYY'), to_char(m, 'MM'));
    lo := m::timestamp AT TIME ZONE 'UTC';
    hi := (m + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    IF to_regclass(part) IS NULL THEN
      -- rows of this month that went to the DEFAULT partition move into the new one
      EXECUTE format('CREATE TABLE %I (LIKE %s INCLUDING DEFAULTS)', part, parent);
      EXECUTE format('WITH moved AS (DELETE FROM %I WHERE %I >= $1 AND %I < $2 RETURNING *) '
                     'INSERT INTO %I SELECT * FROM moved', base || '_default', col, col, part) USING lo, hi;
      EXECUTE format('ALTER TABLE %s ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)', parent, part, lo, hi);
      made := made + 1;
    END IF;
    m := m + interval '1 month';
  END LOOP;
  RETURN made;
END $$;

CREATE OR REPLACE FUNCTION onemap_drop_partitions(parent regclass, before timestamptz)
RETURNS int LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp AS $$
DECLARE r record; dropped int := 0;
BEGIN
  FOR r IN SELECT c.oid::regclass AS part, pg_get_expr(c.relpartbound, c.oid) AS bound
           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
           WHERE i.inhparent = parent LOOP
    -- only whole months entirely before the cut-off: FOR VALUES FROM ('a') TO ('b') with b <= before
    IF r.bound LIKE 'FOR VALUES FROM%' AND
       (regexp_match(r.bound, 'TO \(''([^'']+)''\)'))[1]::timestamptz <= before THEN
      EXECUTE format('DROP TABLE %s', r.part);
      dropped := dropped + 1;
    END IF;
  END LOOP;
  RETURN dropped;
END $$;
"""


def _partition_readings() -> None:
    op.execute("ALTER TABLE sensor_reading RENAME TO sensor_reading_unpartitioned")
    op.execute("ALTER INDEX sensor_reading_pkey RENAME TO sensor_reading_unpartitioned_pkey")
    op.execute("ALTER INDEX ix_sensor_reading_observed_brin RENAME TO ix_sensor_reading_unpartitioned_brin")
    op.execute("CREATE TABLE sensor_reading (LIKE sensor_reading_unpartitioned INCLUDING DEFAULTS) "
               "PARTITION BY RANGE (observed_at)")
    op.execute("ALTER TABLE sensor_reading ADD CONSTRAINT sensor_reading_pkey PRIMARY KEY (sensor_id, observed_at)")
    op.execute("ALTER TABLE sensor_reading ADD CONSTRAINT sensor_reading_sensor_id_fkey FOREIGN KEY (sensor_id) "
               "REFERENCES sensor(id) ON DELETE CASCADE")
    op.execute("CREATE INDEX ix_sensor_reading_observed_brin ON sensor_reading USING brin (observed_at)")
    op.execute("CREATE TABLE sensor_reading_default PARTITION OF sensor_reading DEFAULT")
    op.execute(PARTITION_FNS)
    op.execute("INSERT INTO sensor_reading SELECT * FROM sensor_reading_unpartitioned")
    op.execute("DROP TABLE sensor_reading_unpartitioned")
    # the months that hold readings, and three ahead (rows move out of the DEFAULT partition)
    op.execute("""SELECT onemap_ensure_partitions('sensor_reading', 'observed_at', coalesce((
        SELECT greatest(0, ((extract(year FROM now()) - extract(year FROM min(observed_at))) * 12
                            + extract(month FROM now()) - extract(month FROM min(observed_at)))::int)
        FROM sensor_reading_default), 0), 3)""")


def _unpartition_readings() -> None:
    op.execute("CREATE TABLE sensor_reading_plain (LIKE sensor_reading INCLUDING DEFAULTS)")
    op.execute("INSERT INTO sensor_reading_plain SELECT * FROM sensor_reading")
    op.execute("DROP TABLE sensor_reading CASCADE")
    op.execute("DROP FUNCTION IF EXISTS onemap_ensure_partitions(regclass, text, int, int)")
    op.execute("DROP FUNCTION IF EXISTS onemap_drop_partitions(regclass, timestamptz)")
    op.execute("ALTER TABLE sensor_reading_plain RENAME TO sensor_reading")
    op.execute("ALTER TABLE sensor_reading ADD CONSTRAINT sensor_reading_pkey PRIMARY KEY (sensor_id, observed_at)")
    op.execute("ALTER TABLE sensor_reading ADD CONSTRAINT sensor_reading_sensor_id_fkey FOREIGN KEY (sensor_id) "
               "REFERENCES sensor(id) ON DELETE CASCADE")
    op.execute("CREATE INDEX ix_sensor_reading_observed_brin ON sensor_reading USING brin (observed_at)")


def upgrade() -> None:
    op.execute("CREATE SCHEMA IF NOT EXISTS ogc")
    op.execute("CREATE SCHEMA IF NOT EXISTS ogc_staff")
    for name, (comment, sql) in VIEWS.items():
        op.execute(f"CREATE VIEW {name} AS {sql}")
        op.execute(f"COMMENT ON VIEW {name} IS '{comment}'")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX ix_address_text_trgm ON address USING gin (({ADDRESS_TEXT}) gin_trgm_ops)")
    _partition_readings()


def downgrade() -> None:
    _unpartition_readings()
    op.execute("DROP INDEX IF EXISTS ix_address_text_trgm")
    op.execute("DROP SCHEMA ogc_staff CASCADE")
    op.execute("DROP SCHEMA ogc CASCADE")
