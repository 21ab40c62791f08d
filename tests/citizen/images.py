"""Test photos made with Pillow: a JPEG with GPS EXIF, decompression bombs, non-images."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import ExifTags, Image

#: Where the test photo says it was taken (lon, lat), inside the test district.
GPS_LON, GPS_LAT = 113.4123, 23.0987


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = round(((value - d) * 60 - m) * 60, 4)
    return (float(d), float(m), s)


def jpeg(*, gps: bool = True, size: tuple[int, int] = (1200, 900), seed: int = 0,
         orientation: int | None = None) -> bytes:
    """A noisy JPEG; with ``gps`` its EXIF holds :data:`GPS_LON`/:data:`GPS_LAT`, a camera time and a maker."""
    rng = np.random.default_rng(seed)
    arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    img = Image.fromarray(arr, "RGB")
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "TestCam"
    exif[ExifTags.Base.DateTime] = "2026:10:05 10:00:00"
    if orientation:
        exif[ExifTags.Base.Orientation] = orientation
    if gps:
        exif[ExifTags.IFD.GPSInfo] = {
            ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: _dms(GPS_LAT),
            ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: _dms(GPS_LON),
        }
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=90, exif=exif)
    return buf.getvalue()


def png_bomb(width: int = 30_000, height: int = 30_000) -> bytes:
    """A tiny PNG that decodes to ``width`` x ``height`` 1-bit pixels (zeros), built by hand so it is fast."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    comp = zlib.compressobj(9)
    data = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", data) + chunk(b"IEND", b"")


def has_gps(data: bytes) -> bool:
    """Whether an image's EXIF holds a GPS IFD with a latitude."""
    exif = Image.open(io.BytesIO(data)).getexif()
    return ExifTags.GPS.GPSLatitude in exif.get_ifd(ExifTags.IFD.GPSInfo)
