"""Column mappings for ticket files of other systems (311 exports...): a YAML file -> bulk import rows.

A mapping (e.g. ``data/catalogs/los_angeles_311.yaml``) says which source
column feeds which column of :func:`spatial.tickets.bulk.bulk_intake`
(``columns``), how source values translate (``values``: ``column``, ``map``,
``default``; an unmapped value without a default is kept and then rejected
by the import, e.g. as an unknown category), the source's ``timezone`` and
``time_format`` (times become ISO 8601 with their UTC offset, so the
district time zone does not re-read them). Unknown keys are refused.
"""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd
import yaml

from spatial.errors import ValidationError
from spatial.tickets.bulk import BULK_COLUMNS
from spatial.tickets.history import HISTORY_COLUMNS

#: Columns a mapping may fill.
TARGETS = BULK_COLUMNS + HISTORY_COLUMNS
_KEYS = {"source", "timezone", "time_format", "columns", "values"}
_TIME_TARGETS = tuple(c for c in TARGETS if c.endswith("_at"))


def load_mapping(path: str | Path) -> dict:
    """Read and check a mapping file; raises ValidationError naming the problem."""
    try:
        spec = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(f"cannot read the mapping {path}: {exc}") from exc
    if not isinstance(spec, dict):
        raise ValidationError(f"the mapping {path} must be a YAML mapping")
    unknown = set(spec) - _KEYS
    if unknown:
        raise ValidationError(f"unknown keys in {path}: {', '.join(sorted(unknown))}")
    targets = list(spec.get("columns") or {}) + list(spec.get("values") or {})
    bad = [t for t in targets if t not in TARGETS]
    if bad:
        raise ValidationError(f"{path} maps to unknown columns {', '.join(bad)}; known: {', '.join(TARGETS)}")
    if spec.get("timezone"):
        try:
            ZoneInfo(spec["timezone"])
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValidationError(f"unknown time zone {spec['timezone']!r} in {path}") from exc
    return spec


def apply_mapping(src: pd.DataFrame, spec: dict) -> pd.DataFrame:
    """Rows of ``src`` (a source file read as text) as bulk import rows (columns :data:`TARGETS` present)."""
    out = pd.DataFrame(index=src.index)
    for target, column in (spec.get("columns") or {}).items():
        if column not in src:
            raise ValidationError(f"the file has no column {column!r} (mapped to {target})")
        out[target] = src[column]
    for target, rule in (spec.get("values") or {}).items():
        column = rule.get("column")
        if column not in src:
            raise ValidationError(f"the file has no column {column!r} (mapped to {target})")
        raw = src[column].astype("string").str.strip()
        mapped = raw.map({str(k): v for k, v in (rule.get("map") or {}).items()})
        out[target] = mapped.fillna(rule["default"]) if "default" in rule else mapped.fillna(raw)
    fmt, zone = spec.get("time_format"), spec.get("timezone")
    for target in _TIME_TARGETS:
        if target not in out:
            continue
        text = out[target].astype("string").str.strip()
        text = text.where(text.notna() & (text != ""))
        t = pd.to_datetime(text, format=fmt or "mixed", errors="coerce")
        if zone and t.dt.tz is None:
            t = t.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT")
        # unparsable texts stay as they were, so the import names them as row errors
        out[target] = pd.Series(t.map(lambda v: v.isoformat() if pd.notna(v) else None), index=out.index,
                                dtype=object).where(t.notna(), text.astype(object))
    return out


def read_mapped(path: str | Path, mapping: str | Path) -> pd.DataFrame:
    """A source CSV (UTF-8, read as text) mapped by the YAML file ``mapping``."""
    spec = load_mapping(mapping)
    try:
        src = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise ValidationError(f"cannot read {path}: {exc}") from exc
    return apply_mapping(src, spec)


__all__ = ["TARGETS", "apply_mapping", "load_mapping", "read_mapped"]
