"""Photo checks and copies with Pillow: sniff the type from the bytes, enforce limits, strip EXIF, thumbnail.

:func:`process` is pure (bytes in, bytes out; no disk, no database):

1. **size**: more than ``max_bytes`` -> :class:`~spatial.errors.TooLarge` (413);
2. **type** from the bytes (Pillow's decoders, never the file name or the client's
   Content-Type): JPEG, PNG or WebP, else :class:`~spatial.errors.UnsupportedMedia` (415);
3. **pixels**: width x height over ``max_pixels`` -> 413 *before* decoding (the header is
   read lazily), and Pillow's own decompression-bomb guard is turned into the same 413;
   truncated or corrupt data -> 422;
4. **EXIF**: the GPS position (EPSG:4326 lon/lat) and the capture time are read from the
   original, which is kept unchanged as private evidence; the **public copy** is re-encoded
   from the pixels (orientation applied) with no EXIF, XMP or comments (an ICC profile is kept);
5. **thumbnail**: longest side ``thumb_px``, JPEG.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from spatial.errors import TooLarge, UnsupportedMedia, ValidationError

#: Accepted formats (Pillow's names) -> media type of the original.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
JPEG_QUALITY = 85
THUMB_QUALITY = 80


@dataclass(frozen=True)
class Photo:
    """The three copies of an accepted photo and what its EXIF said (private)."""

    original: bytes
    original_type: str
    public: bytes
    public_type: str
    thumb: bytes
    width: int
    height: int
    gps: tuple[float, float] | None  # (lon, lat), EPSG:4326 degrees
    taken_at: datetime | None


def _ratio(v) -> float:
    return float(v[0]) / float(v[1]) if isinstance(v, tuple) else float(v)


def _degrees(dms, ref: str | None) -> float:
    d, m, s = (_ratio(x) for x in dms)
    value = d + m / 60 + s / 3600
    return -value if (ref or "").upper() in ("S", "W") else value


def exif_gps(exif: Image.Exif) -> tuple[float, float] | None:
    """(lon, lat) in EPSG:4326 degrees from an EXIF GPS IFD, or None when absent or invalid."""
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    try:
        lat = _degrees(gps[ExifTags.GPS.GPSLatitude], gps.get(ExifTags.GPS.GPSLatitudeRef))
        lon = _degrees(gps[ExifTags.GPS.GPSLongitude], gps.get(ExifTags.GPS.GPSLongitudeRef))
    except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None
    return lon, lat


def exif_time(exif: Image.Exif) -> datetime | None:
    """DateTimeOriginal (naive camera time, read as UTC when no offset tag), or None."""
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    text = sub.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if not isinstance(text, str):
        return None
    offset = sub.get(ExifTags.Base.OffsetTimeOriginal)
    try:
        t = datetime.strptime(text.strip()[:19], "%Y:%m:%d %H:%M:%S")
        if isinstance(offset, str) and len(offset.strip()) == 6:
            return datetime.fromisoformat(t.isoformat() + offset.strip()).astimezone(UTC)
        return t.replace(tzinfo=UTC)
    except ValueError:
        return None


def _encode(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def process(data: bytes, *, max_bytes: int, max_pixels: int, thumb_px: int) -> Photo:
    """Check ``data`` and make the public copy and the thumbnail (see the module docstring).

    Raises TooLarge (413), UnsupportedMedia (415) or ValidationError (422, corrupt image).
    """
    if len(data) > max_bytes:
        raise TooLarge(f"the photo is {len(data):,} bytes; at most {max_bytes:,} are accepted")
    if not data:
        raise ValidationError("the uploaded file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data), formats=list(FORMATS))
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise UnsupportedMedia("the file is not a JPEG, PNG or WebP image") from exc
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooLarge(f"the image has too many pixels (at most {max_pixels:,})") from exc
        width, height = img.size
        if width * height > max_pixels or width <= 0 or height <= 0:
            raise TooLarge(f"the image is {width}x{height} = {width * height:,} pixels; "
                           f"at most {max_pixels:,} are accepted")
        original_type = FORMATS[img.format or ""]
        exif = img.getexif()
        gps, taken = exif_gps(exif), exif_time(exif)
        try:
            img.load()
            shown = ImageOps.exif_transpose(img)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise TooLarge(f"the image has too many pixels (at most {max_pixels:,})") from exc
        except (OSError, SyntaxError, ValueError) as exc:
            raise ValidationError("the image is truncated or corrupt; take or choose it again") from exc
    icc = img.info.get("icc_profile")
    extra = {"icc_profile": icc} if icc else {}
    if original_type == "image/png":
        public_type = "image/png"
        keep = shown if shown.mode in ("RGB", "RGBA", "L", "LA", "P") else shown.convert("RGBA")
        public = _encode(keep, "PNG", optimize=False, **extra)  # no text chunks, no eXIf
    else:
        public_type = "image/jpeg"
        rgb = shown.convert("RGB") if shown.mode != "RGB" else shown
        public = _encode(rgb, "JPEG", quality=JPEG_QUALITY, optimize=False, **extra)  # no exif= -> none written
    thumb_img = shown.convert("RGB") if shown.mode != "RGB" else shown.copy()
    thumb_img.thumbnail((thumb_px, thumb_px), Image.Resampling.BILINEAR, reducing_gap=2.0)
    thumb = _encode(thumb_img, "JPEG", quality=THUMB_QUALITY)
    return Photo(original=data, original_type=original_type, public=public, public_type=public_type,
                 thumb=thumb, width=shown.size[0], height=shown.size[1], gps=gps, taken_at=taken)
