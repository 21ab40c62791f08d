"""COPY plumbing: stream a pandas DataFrame into PostgreSQL through psycopg 3.

The frame is formatted as CSV with ``\\N`` as the NULL marker (so empty
strings stay empty strings) and written with ``cursor.copy``. Values must
already be in their text form for the target type: use :func:`pg_array` for
``text[]`` columns, :func:`json_text` for ``jsonb`` and :func:`hex_ewkb` for
geometry columns (hex EWKB with SRID, which PostGIS parses losslessly).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import shapely
from sqlalchemy.orm import Session

NULL = "\\N"
_CHUNK_ROWS = 50_000


def driver_connection(session: Session) -> Any:
    """The psycopg connection behind ``session`` (same transaction)."""
    return session.connection().connection.driver_connection


def _quote_elem(v: Any) -> str:
    s = str(v)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def pg_array(values: Iterable[Any] | None) -> str | None:
    """A PostgreSQL array literal (``{"a","b"}``) for a ``text[]`` column; None stays NULL."""
    if values is None:
        return None
    return "{" + ",".join(_quote_elem(v) for v in values) + "}"


def json_text(value: Any) -> str | None:
    """JSON text for a ``jsonb`` column (non-ASCII kept as is)."""
    if value is None:
        return None
    return json.dumps(value, ensure_ascii=False, default=str)


def hex_ewkb(geoms: Sequence[Any] | np.ndarray, *, srid: int = 4326) -> np.ndarray:
    """Hex EWKB strings (with ``srid``) for shapely geometries; None/missing stay None."""
    arr = np.asarray(geoms, dtype=object)
    out = np.full(arr.shape, None, dtype=object)
    ok = np.array([g is not None and not (isinstance(g, float)) for g in arr], dtype=bool)
    if ok.any():
        geo = shapely.set_srid(arr[ok], srid)
        out[ok] = shapely.to_wkb(geo, hex=True, include_srid=True)
    return out


def copy_frame(session: Session, table: str, df: pd.DataFrame, *, columns: Sequence[str] | None = None) -> int:
    """COPY ``df`` (columns named like the table's) into ``table``; returns rows written.

    Runs inside the session's current transaction. Missing values (None/NaN/NA)
    become NULL.
    """
    cols = list(columns or df.columns)
    if df.empty:
        return 0
    conn = driver_connection(session)
    col_sql = ", ".join(f'"{c}"' for c in cols)
    sql = f"COPY {table} ({col_sql}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with conn.cursor() as cur, cur.copy(sql) as cp:
        for start in range(0, len(df), _CHUNK_ROWS):
            part = df.iloc[start:start + _CHUNK_ROWS][cols]
            buf = io.StringIO()
            part.to_csv(buf, header=False, index=False, na_rep=NULL, date_format="%Y-%m-%dT%H:%M:%S.%f%z")
            cp.write(buf.getvalue().encode("utf-8"))
    return len(df)
