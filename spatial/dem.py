"""The district's DEM: reprojected to the metric CRS, clipped to the boundary, checked for coverage.

:func:`install_dem` (``onemap dem set PATH``) reads any GeoTIFF (geographic or
projected; a file without a CRS needs ``crs``), refuses it unless it covers
the whole level-1 boundary, and writes the window around the boundary (plus
``margin_m``) resampled bilinearly onto a north-up grid of the metric CRS to
``<ONEMAP_HOME>/dem/<stem>-<srid>.tif`` (float32 metres, NaN = no data).
:func:`coverage` is the share of the boundary's area inside a DEM's extent.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import rasterio
import sqlalchemy as sa
from rasterio.crs import CRS as RioCRS
from rasterio.errors import RasterioIOError
from rasterio.transform import from_origin
from rasterio.warp import Resampling, calculate_default_transform, reproject, transform_geom
from shapely import wkb
from shapely.geometry import box, mapping, shape
from sqlalchemy.orm import Session

from spatial.errors import NotFound, ValidationError
from spatial.settings import get_settings

#: Default margin around the boundary kept in the clipped DEM, metres.
MARGIN_M = 500.0
#: A DEM must cover at least this share of the boundary's area.
MIN_COVERAGE = 0.999


def boundary(session: Session, srid: int):
    """The union of the level-1 boundary in EPSG:``srid`` (shapely); ValidationError when none is loaded."""
    raw = session.scalar(sa.text(
        "SELECT ST_AsBinary(ST_Transform(ST_Union(geom), :srid)) FROM admin_unit WHERE level = 1"), {"srid": srid})
    if raw is None:
        raise ValidationError("no district boundary (admin level 1) is loaded: import it first")
    return wkb.loads(bytes(raw))


def _open(path: Path, crs: str | None):
    if not Path(path).is_file():
        raise NotFound(f"no DEM file at {path}")
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise ValidationError(f"cannot read DEM {path}: {exc}") from None
    src_crs = src.crs
    if crs:
        try:
            src_crs = RioCRS.from_user_input(crs)
        except Exception:
            src.close()
            raise ValidationError(f"--crs {crs!r} is not a CRS (e.g. EPSG:4326)") from None
    if src_crs is None:
        src.close()
        raise ValidationError(f"DEM {path} has no CRS: give it with --crs EPSG:xxxx")
    return src, src_crs


def _covered(district_geom, src_crs, bounds, srid: int) -> float:
    """Share of ``district_geom`` (EPSG:srid) inside the raster extent ``bounds`` (in ``src_crs``)."""
    extent = box(*bounds).segmentize(max(bounds[2] - bounds[0], bounds[3] - bounds[1]) / 100)
    extent = shape(transform_geom(src_crs, f"EPSG:{srid}", mapping(extent)))
    return float(district_geom.intersection(extent).area / district_geom.area) if district_geom.area else 0.0


def coverage(session: Session, path: Path, srid: int, crs: str | None = None) -> float:
    """Share (0-1) of the district boundary's area (measured in EPSG:``srid``) inside the DEM's extent."""
    src, src_crs = _open(path, crs)
    with src:
        return _covered(boundary(session, srid), src_crs, src.bounds, srid)


def install_dem(session: Session, path: str | Path, *, srid: int, crs: str | None = None,
                margin_m: float = MARGIN_M, cell_m: float | None = None) -> dict:
    """Reproject and clip a DEM to the district; returns {path, srid, cell_m, width, height, bounds, coverage}.

    Parameters
    ----------
    path : str or Path
        Any GeoTIFF of elevations in metres.
    srid : int
        The district's metric CRS (EPSG code).
    crs : str, optional
        CRS of a file that does not declare one (``EPSG:4326``); overrides the file's.
    margin_m : float
        Kept around the boundary's bounding box, metres.
    cell_m : float, optional
        Output cell size in metres; default the source's native resolution.

    Raises
    ------
    ValidationError
        No CRS, unreadable, or the DEM covers less than 99.9 % of the district.
    """
    path = Path(path)
    src, src_crs = _open(path, crs)
    with src:
        district = boundary(session, srid)
        share = _covered(district, src_crs, src.bounds, srid)
        if share < MIN_COVERAGE:
            raise ValidationError(
                f"DEM {path.name} covers {share:.1%} of the district (its extent "
                f"{tuple(round(v, 4) for v in src.bounds)} in {src_crs.to_string()}): "
                "give a DEM covering the whole district",
                details={"coverage": share})
        dst_crs = RioCRS.from_epsg(srid)
        if cell_m is None:
            t, _, _ = calculate_default_transform(src_crs, dst_crs, src.width, src.height, *src.bounds)
            cell_m = float(round(min(abs(t.a), abs(t.e)), 1)) or 1.0
        x0, y0, x1, y1 = district.bounds
        x0, y0 = math.floor((x0 - margin_m) / cell_m) * cell_m, math.floor((y0 - margin_m) / cell_m) * cell_m
        x1, y1 = math.ceil((x1 + margin_m) / cell_m) * cell_m, math.ceil((y1 + margin_m) / cell_m) * cell_m
        width, height = round((x1 - x0) / cell_m), round((y1 - y0) / cell_m)
        transform = from_origin(x0, y1, cell_m, cell_m)
        out = np.full((height, width), np.nan, dtype="float32")
        reproject(source=rasterio.band(src, 1), destination=out, src_transform=src.transform, src_crs=src_crs,
                  src_nodata=src.nodata, dst_transform=transform, dst_crs=dst_crs, dst_nodata=np.nan,
                  resampling=Resampling.bilinear)
    folder = get_settings().home / "dem"
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / f"{path.stem}-{srid}.tif"
    tmp = folder / f".{dest.name}.tmp"
    with rasterio.open(tmp, "w", driver="GTiff", width=width, height=height, count=1, dtype="float32",
                       crs=dst_crs, transform=transform, nodata=np.nan, compress="deflate") as dst:
        dst.write(out, 1)
    tmp.replace(dest)
    return {"path": str(dest), "srid": srid, "cell_m": cell_m, "width": width, "height": height,
            "bounds": [x0, y0, x1, y1], "coverage": round(share, 4),
            "valid_share": round(float(np.isfinite(out).mean()), 4)}
