"""Camera video for the browser: the stream URLs of a camera (privacy-checked) and the local hls.js.

* ``GET /api/cameras/{id}/video``: ``{id, code, name, hls, mjpeg, snapshot}`` for
  roles that may watch (``spatial.privacy.sees_streams``); 403 for the others,
  401 without a token. ``hls`` is the camera's ``stream_url`` when it is an
  HLS playlist (``.m3u8``), ``mjpeg`` when it is anything else (an MJPEG
  ``multipart/x-mixed-replace`` URL), ``snapshot`` its ``snapshot_url``.
* ``GET /vendor/hls.min.js``: hls.js (Apache-2.0), installed from the npm
  registry by ``./dev.sh setup`` into ``web/node_modules`` (``web/package.json``
  pins the version) and served by this server: no CDN. 503 with the fix when
  it is not installed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from sqlalchemy.orm import Session

from spatial import privacy
from spatial.api.deps import current_principal, db_session
from spatial.auth import Principal
from spatial.bounds import INT4_MAX
from spatial.errors import Forbidden, NotFound, OneMapError
from spatial.models import Camera
from spatial.sensors.cameras import HLS_URL, video_sources

router = APIRouter(tags=["video"])

#: Where ``./dev.sh setup`` installs hls.js (``npm ci --prefix web``).
HLS_DIST = Path(__file__).resolve().parents[2] / "web" / "node_modules" / "hls.js" / "dist"
CameraIdPath = Annotated[int, PathParam(ge=1, le=INT4_MAX, description="camera id")]


class NotInstalled(OneMapError):
    status_code = 503
    code = "not_installed"


@router.get("/api/cameras/{camera_id}/video", summary="A camera's stream URLs (roles that may watch video)")
def get_video(camera_id: CameraIdPath, session: Session = Depends(db_session),
              principal: Principal = Depends(current_principal)) -> dict:
    if not privacy.sees_streams(principal):
        raise Forbidden(f"role {principal.role!r} may not watch camera video")
    cam = session.get(Camera, camera_id)
    if cam is None:
        raise NotFound(f"camera {camera_id} does not exist")
    return video_sources(cam)


@router.get(HLS_URL, include_in_schema=False)
def hls_js() -> FileResponse:
    path = HLS_DIST / "hls.min.js"
    if not path.is_file():
        raise NotInstalled("hls.js is not installed: run ./dev.sh setup (npm ci --prefix web)")
    return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
