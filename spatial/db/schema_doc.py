"""The live schema (tables, columns, indexes) as Markdown, for docs/schema.md.

Partitions (``sensor_reading_y2026m11``, ...) are left out: they change with the
calendar; their parent is listed, marked partitioned.
"""

from __future__ import annotations

import sqlalchemy as sa

from spatial.db.engine import get_engine

_COLUMNS = sa.text("""
SELECT c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, a.attnotnull AS not_null,
       pg_get_expr(d.adbin, d.adrelid) AS default_expr, a.attgenerated <> '' AS generated
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid AND c.relkind IN ('r', 'p') AND NOT c.relispartition
JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT IN ('spatial_ref_sys', 'alembic_version')
ORDER BY c.relname, a.attnum
""")

_INDEXES = sa.text("""
SELECT tablename AS table, indexname AS name, indexdef AS def FROM pg_indexes
WHERE schemaname = 'public' AND tablename NOT IN ('spatial_ref_sys', 'alembic_version')
  AND NOT (SELECT relispartition FROM pg_class WHERE oid = format('%I.%I', schemaname, tablename)::regclass)
ORDER BY tablename, indexname
""")


def schema_markdown(url: str | None = None) -> str:
    """Markdown tables of every OneMap table's columns and indexes."""
    eng = get_engine(url)
    with eng.connect() as conn:
        cols = conn.execute(_COLUMNS).mappings().all()
        idx = conn.execute(_INDEXES).mappings().all()
        rev = conn.scalar(sa.text("SELECT version_num FROM alembic_version"))
    out = [f"Schema at Alembic revision `{rev}`. Geometry columns are EPSG:4326.", ""]
    tables = sorted({c["table"] for c in cols})
    parted = {r[0]: r[1] for r in _partitioned(eng)}
    for t in tables:
        out += [f"### `{t}`", ""]
        if t in parted:
            out += [f"Partitioned: {parted[t]} (monthly partitions `{t}_yYYYYmMM` and `{t}_default`).", ""]
        out += ["| column | type | null | default |", "|---|---|---|---|"]
        for c in (c for c in cols if c["table"] == t):
            default = "generated" if c["generated"] else (c["default_expr"] or "")
            out.append(f"| {c['column']} | {c['type']} | {'' if c['not_null'] else 'yes'} | "
                       f"{default.replace('|', '/')} |")
        out += ["", "Indexes:", ""]
        for i in (i for i in idx if i["table"] == t):
            d = i["def"].split(" USING ", 1)[-1]
            out.append(f"- `{i['name']}`: {d}")
        out.append("")
    return "\n".join(out)


def _partitioned(eng) -> list:
    with eng.connect() as conn:
        return conn.execute(sa.text(
            "SELECT c.relname, pg_get_partkeydef(c.oid) FROM pg_partitioned_table p "
            "JOIN pg_class c ON c.oid = p.partrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = 'public'")).all()
