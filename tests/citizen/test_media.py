"""Photos: type from the bytes, size and pixel limits, EXIF stripped from the public copy with the GPS position
kept as private evidence, thumbnails, access checks, Open311 media_url."""

from __future__ import annotations

import io

import sqlalchemy as sa
from PIL import Image

from spatial.db.engine import session_scope
from spatial.models import Media
from tests.citizen.conftest import blobs
from tests.citizen.images import GPS_LAT, GPS_LON, has_gps, jpeg, png_bomb
from tests.tickets.conftest import auth


def upload(client, data: bytes, name: str = "photo.jpg", ctype: str = "image/jpeg", headers=None):
    return client.post("/api/media", files={"file": (name, data, ctype)}, headers=headers or {})


def media_rows() -> int:
    with session_scope() as s:
        return s.scalar(sa.select(sa.func.count()).select_from(Media))


def report(client, media: list[str], **kw) -> dict:
    body = {"category": "pothole", "lon": 113.415, "lat": 23.095, "description": "hole", "media": media, **kw}
    r = client.post("/api/citizen/reports", json=body)
    assert r.status_code in (200, 201), r.text
    return r.json()


def test_gps_exif_is_stripped_from_the_public_copy_and_kept_as_evidence(world, client, media_dir):
    original = jpeg(gps=True)
    r = upload(client, original)
    assert r.status_code == 201, r.text
    m = r.json()
    assert m["width"] == 1200 and m["height"] == 900 and "gps" not in m
    public = client.get(f"/media/{m['id']}")
    assert public.status_code == 200 and public.headers["content-type"] == "image/jpeg"
    assert public.headers["x-content-type-options"] == "nosniff"
    assert not has_gps(public.content) and b"TestCam" not in public.content
    assert len(Image.open(io.BytesIO(public.content)).getexif()) == 0
    thumb = client.get(f"/media/{m['id']}/thumb")
    assert max(Image.open(io.BytesIO(thumb.content)).size) == 320 and not has_gps(thumb.content)
    # the original (EXIF intact) is evidence: never for the public, nor before it belongs to a ticket
    assert client.get(f"/media/{m['id']}/original").status_code == 404
    ticket = report(client, [m["id"]])
    assert client.get(f"/media/{m['id']}/original").status_code == 404
    assert "gps" not in client.get(f"/api/media/{m['id']}").json()
    desk = auth(world["tokens"]["dispatcher"])
    ev = client.get(f"/api/media/{m['id']}", headers=desk).json()
    assert abs(ev["gps"]["lon"] - GPS_LON) < 1e-6 and abs(ev["gps"]["lat"] - GPS_LAT) < 1e-6
    assert ev["taken_at"].startswith("2026-10-05T10:00:00")
    orig = client.get(f"/media/{m['id']}/original", headers=desk)
    assert orig.status_code == 200 and orig.content == original and has_gps(orig.content)
    # a handler of another department does not see the evidence
    other = auth(world["tokens"]["handler_water"])
    assert client.get(f"/media/{m['id']}/original", headers=other).status_code == 404
    # Open311 media_url points at the public copy
    o = client.get(f"/open311/v2/requests/{ticket['ticket_id']}.json").json()[0]
    assert o["media_url"].endswith(f"/media/{m['id']}")
    assert client.get(o["media_url"].replace("http://testserver", "")).content == public.content


def test_bad_uploads_are_refused_and_write_nothing(world, client, media_dir):
    cases = [
        (b"%PDF-1.4 not an image at all" * 10, "x.jpg", 415, "unsupported_media"),  # the name lies
        (jpeg(gps=False)[:20_000], "cut.jpg", 422, "invalid_input"),
        (png_bomb(), "bomb.png", 413, "too_large"),  # 900 megapixels in 110 kB
        (png_bomb(7000, 7000), "big.png", 413, "too_large"),  # 49 MP: over the 40 MP limit
        (b"", "empty.jpg", 422, "invalid_input"),
    ]
    for data, name, status, code in cases:
        r = upload(client, data, name)
        assert r.status_code == status, (name, r.text)
        assert r.json()["error"] == code, (name, r.json())
    big = b"\xff\xd8\xff" + b"\0" * 50_000_000  # 50 MB: refused by the boundary from Content-Length
    r = upload(client, big, "huge.jpg")
    assert r.status_code == 413 and "larger than" in r.json()["message"]
    assert media_rows() == 0 and blobs(media_dir) == []


def test_photos_of_sensitive_tickets_are_hidden_from_the_public(world, client):
    m = upload(client, jpeg(gps=False, size=(64, 48))).json()
    ticket = report(client, [m["id"]])
    with session_scope() as s:
        s.execute(sa.text("UPDATE category SET sensitive = true WHERE code = 'pothole'"))
    assert client.get(f"/media/{m['id']}").status_code == 404
    assert client.get(f"/media/{m['id']}/thumb").status_code == 404
    assert client.get(f"/media/{m['id']}", headers=auth(world["tokens"]["dispatcher"])).status_code == 200
    assert ticket["ticket_id"]


def test_same_bytes_are_stored_once_and_etag_revalidates(world, client, media_dir):
    data = jpeg(gps=False, size=(200, 100), seed=3)
    a, b = upload(client, data).json(), upload(client, data).json()
    assert a["id"] != b["id"]
    assert len(blobs(media_dir)) == 3  # original, public copy, thumbnail: once each
    first = client.get(f"/media/{a['id']}")
    again = client.get(f"/media/{a['id']}", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304


def test_a_photo_belongs_to_one_report(world, client):
    m = upload(client, jpeg(gps=False, size=(64, 48))).json()
    report(client, [m["id"]])
    r = client.post("/api/citizen/reports", json={"category": "noise", "lon": 113.45, "lat": 23.13, "media": [m["id"]]})
    assert r.status_code == 409
    r = client.post("/api/citizen/reports", json={"category": "noise", "lon": 113.45, "lat": 23.13,
                                                   "media": ["0" * 32]})
    assert r.status_code == 422
