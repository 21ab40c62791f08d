"""Writing forecast products: cloud-optimized GeoTIFFs and tables."""

from __future__ import annotations

from os import PathLike
from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile

__all__ = ["write_cog"]


def write_cog(path: str | PathLike, array: np.ndarray, *, transform: Affine, crs: CRS,
              nodata: float = float("nan"), description: str = "") -> Path:
    """Write a 2D float array as a cloud-optimized GeoTIFF (deflate, float32, overviews).

    Parameters
    ----------
    path : path-like
        Output file (``.tif``).
    array : ndarray (ny, nx)
        Values (e.g. depth [m]); NaN = nodata.
    transform, crs
        Georeferencing of the DEM grid.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.asarray(array, dtype=np.float32)
    ny, nx = data.shape
    profile = dict(driver="GTiff", width=nx, height=ny, count=1, dtype="float32", crs=crs,
                   transform=transform, nodata=nodata)
    with MemoryFile() as mem:
        with mem.open(**profile) as dst:
            dst.write(data, 1)
            if description:
                dst.set_band_description(1, description)
        with mem.open() as src:
            rasterio.shutil.copy(src, path, driver="COG", compress="DEFLATE", predictor="3",
                                 overview_resampling="average", blocksize=256)
    return path
