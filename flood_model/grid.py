"""Raster inputs: the DEM grid, aligned auxiliary rasters and burned-in obstacles.

All rasters are brought onto the DEM grid (same CRS, transform and shape).
The solver needs metres, so a DEM in a geographic CRS is refused unless a
target CRS is given (``"utm"`` picks the local UTM zone).
"""

from __future__ import annotations

from dataclasses import dataclass
from os import PathLike
from typing import Any

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.features import rasterize
from rasterio.warp import calculate_default_transform, reproject, transform_bounds

from flood_model.errors import GeographicCRSError, InputError

__all__ = ["DemGrid", "align_raster", "burn_obstacles", "check_elevations", "load_dem", "utm_crs_for"]


@dataclass
class DemGrid:
    """A DEM on a regular grid in a projected CRS.

    Attributes
    ----------
    z : ndarray (ny, nx) float64
        Bed elevation [m]; NaN = nodata. Row 0 is north.
    transform : affine.Affine
        Pixel -> CRS coordinates (north-up, no rotation).
    crs : rasterio.crs.CRS
        Projected CRS (metres).
    """

    z: np.ndarray
    transform: Affine
    crs: CRS

    def __post_init__(self) -> None:
        self.z = np.asarray(self.z, dtype=np.float64)
        if self.z.ndim != 2:
            raise InputError("DEM must be 2D")
        check_elevations(self.z, "DEM")
        if self.transform.b != 0 or self.transform.d != 0 or self.transform.e >= 0:
            raise InputError("DEM must be north-up without rotation")
        if self.crs is None:
            raise InputError("DEM has no CRS; a projected CRS in metres is required")
        self.crs = CRS.from_user_input(self.crs)
        if self.crs.is_geographic:
            raise GeographicCRSError(
                f"DEM CRS {self.crs.to_string()} is geographic (degrees); the solver needs metres. "
                "Reproject it, or load it with load_dem(path, crs='utm') / CLI --crs utm."
            )

    @property
    def shape(self) -> tuple[int, int]:
        return self.z.shape  # type: ignore[return-value]

    @property
    def dx(self) -> float:
        """Cell width [m]."""
        return float(self.transform.a)

    @property
    def dy(self) -> float:
        """Cell height [m]."""
        return float(-self.transform.e)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        ny, nx = self.shape
        left, top = self.transform.c, self.transform.f
        return left, top - ny * self.dy, left + nx * self.dx, top


SENTINEL_LOW_M = -1000.0  # no land surface is lower (Dead Sea shore -430 m)
SENTINEL_HIGH_M = 9000.0  # nor higher (Everest 8849 m)


def check_elevations(z: np.ndarray, what: str) -> None:
    """Refuse elevations [m] that are nodata sentinels in disguise (-9999, -32768, >= 9000 m).

    Voids stored as -9999 without a nodata tag would otherwise be read as ground and
    fill as ponds hundreds of metres deep. NaN is nodata and passes.
    """
    with np.errstate(invalid="ignore"):
        bad = (z <= SENTINEL_LOW_M) | (z >= SENTINEL_HIGH_M)
    if bad.any():
        vals = ", ".join(f"{v:g}" for v in np.unique(z[bad])[:3])
        raise InputError(
            f"{what} has {int(bad.sum())} cell(s) at implausible elevations ({vals} m; outside "
            f"{SENTINEL_LOW_M:g}..{SENTINEL_HIGH_M:g} m), probably voids without a nodata tag; declare the "
            "value with load_dem(path, nodata=...) or set those cells to NaN")


def utm_crs_for(crs: CRS, bounds: tuple[float, float, float, float]) -> CRS:
    """The WGS84 UTM zone CRS containing the centre of ``bounds`` (given in ``crs``)."""
    w, s, e, n = transform_bounds(crs, "EPSG:4326", *bounds)
    lon, lat = (w + e) / 2, (s + n) / 2
    zone = int((lon + 180) // 6) + 1
    return CRS.from_epsg((32600 if lat >= 0 else 32700) + zone)


def load_dem(path: str | PathLike, *, crs: Any = None, resolution: float | None = None,
             nodata: float | None = None) -> DemGrid:
    """Read a DEM GeoTIFF (band 1) into a :class:`DemGrid`.

    Parameters
    ----------
    path : path-like
        Any GDAL raster.
    crs : str, int or CRS, optional
        If the file has a CRS: target CRS (``None`` keeps the file's and refuses a
        geographic one; ``"utm"`` picks the local UTM zone; reprojection is bilinear).
        If the file has none: the CRS the file is in (assigned, not reprojected).
    resolution : float, optional
        Target cell size [m] when reprojecting/resampling.
    nodata : float, optional
        Elevation value [m] that marks voids, in addition to the file's nodata tag
        (e.g. -9999 in a file without a tag). Implausible elevations (<= -1000 m,
        >= 9000 m) are refused unless declared here.

    Raises
    ------
    GeographicCRSError
        The DEM is in degrees and no target ``crs`` was given.
    InputError
        Unreadable file, no CRS and none given, or undeclared nodata sentinels.
    """
    try:
        src = rasterio.open(path)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read DEM {path}: {exc}") from exc
    with src:
        z = src.read(1, masked=True).astype(np.float64).filled(np.nan)
        if nodata is not None:
            z[z == float(nodata)] = np.nan
        check_elevations(z, f"DEM {path}")
        src_crs, target = src.crs, crs
        if src_crs is None:
            if crs is None or str(crs).lower() == "utm":
                raise InputError(f"DEM {path} has no CRS; give the CRS it is in: load_dem(path, crs='EPSG:...')")
            src_crs, target = CRS.from_user_input(crs), None
        if target is None and resolution is None:
            return DemGrid(z, src.transform, src_crs)
        dst_crs = src_crs if target is None else (utm_crs_for(src_crs, src.bounds) if str(target).lower() == "utm"
                                                  else CRS.from_user_input(target))
        if dst_crs.is_geographic:
            raise GeographicCRSError(f"target CRS {dst_crs.to_string()} is geographic; choose a projected CRS")
        kw = {"resolution": resolution} if resolution else {}
        transform, width, height = calculate_default_transform(
            src_crs, dst_crs, src.width, src.height, *src.bounds, **kw)
        out = np.full((height, width), np.nan)
        reproject(z, out, src_transform=src.transform, src_crs=src_crs, dst_transform=transform,
                  dst_crs=dst_crs, resampling=Resampling.bilinear, src_nodata=np.nan, dst_nodata=np.nan)
        return DemGrid(out, transform, dst_crs)


def align_raster(source: str | PathLike | np.ndarray | float, grid: DemGrid, *,
                 resampling: Resampling = Resampling.bilinear, band: int = 1,
                 name: str = "raster") -> np.ndarray | float:
    """Bring a scalar, an array of the DEM shape, or a raster file onto the DEM grid.

    Returns a float scalar unchanged, an array checked against the DEM shape,
    or the file's band reprojected onto the grid (nodata -> NaN).
    """
    if np.ndim(source) == 0 and not isinstance(source, (str, PathLike)):
        return float(source)  # type: ignore[arg-type]
    if isinstance(source, np.ndarray):
        if source.shape != grid.shape:
            raise InputError(f"{name} array shape {source.shape} != DEM shape {grid.shape}")
        return source.astype(np.float64)
    try:
        src = rasterio.open(source)
    except rasterio.errors.RasterioIOError as exc:
        raise InputError(f"cannot read {name} raster {source}: {exc}") from exc
    with src:
        data = src.read(band, masked=True).astype(np.float64).filled(np.nan)
        out = np.full(grid.shape, np.nan)
        reproject(data, out, src_transform=src.transform, src_crs=src.crs or grid.crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, resampling=resampling,
                  src_nodata=np.nan, dst_nodata=np.nan)
    return out


def burn_obstacles(footprints: Any, grid: DemGrid) -> np.ndarray:
    """Rasterize building footprints (GeoDataFrame or path) into a bool obstacle mask.

    A cell is an obstacle when its centre lies inside a footprint. The
    footprints are reprojected to the DEM CRS first.
    """
    import geopandas as gpd

    gdf = gpd.read_file(footprints) if isinstance(footprints, (str, PathLike)) else footprints
    if gdf is None or len(gdf) == 0:
        return np.zeros(grid.shape, bool)
    if gdf.crs is None:
        raise InputError("building footprints have no CRS")
    geoms = [g for g in gdf.to_crs(grid.crs).geometry if g is not None and not g.is_empty]
    if not geoms:
        return np.zeros(grid.shape, bool)
    return rasterize(((g, 1) for g in geoms), out_shape=grid.shape, transform=grid.transform,
                     fill=0, dtype="uint8").astype(bool)
