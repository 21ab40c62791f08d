"""Camera video in the browser: a grid of live players (HLS via the server's own hls.js, MJPEG, snapshots).

``VideoWall.tiles`` is a list of ``{id, name, hls, mjpeg, snapshot, note}``
(``spatial.api.video.video_sources``); each tile plays the first source that
works: HLS (hls.js over Media Source Extensions, loaded once from
``/vendor/hls.min.js`` on this server; the browser's own HLS only without MSE:
Chromium 1xx claims ``.m3u8`` support but its native player failed on a live
stream after ~20 s and stalled the page meanwhile), then MJPEG (an ``<img>`` on the multipart stream), then the snapshot
(reloaded every 2 s). A fatal HLS error falls back the same way. Only views
whose role may watch (``spatial.privacy.sees_streams``) ever put URLs into
``tiles``; for the others there is nothing to leak.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import param
import sqlalchemy as sa
from panel.custom import JSComponent

from spatial.auth import Principal
from spatial.models import Camera
from spatial.privacy import sees_streams
from spatial.sensors.cameras import HLS_URL, video_sources

_ESM = """
let hlsLoading = null;
function loadHls(src) {
  if (window.Hls) return Promise.resolve(window.Hls);
  if (!hlsLoading) {
    hlsLoading = new Promise((ok, bad) => {
      const s = document.createElement('script');
      s.src = src;
      s.onload = () => window.Hls ? ok(window.Hls) : bad(new Error('hls.js did not load'));
      s.onerror = () => { hlsLoading = null; bad(new Error('hls.js not available at ' + src)) };
      document.head.appendChild(s);
    });
  }
  return hlsLoading;
}

export function render({ model, el }) {
  const root = document.createElement('div');
  root.className = 'vw';
  el.appendChild(root);
  let cleanups = [];

  function teardown() {
    for (const f of cleanups) { try { f() } catch (e) {} }
    cleanups = [];
    root.innerHTML = '';
  }

  function still(cell, t, why) {
    for (const v of cell.querySelectorAll('video')) v.remove();
    cell.dataset.state = 'fallback';
    cell.dataset.why = why || '';
    if (t.mjpeg) {
      const img = document.createElement('img');
      img.className = 'vw-media'; img.src = t.mjpeg; img.alt = t.name;
      cell.dataset.state = 'mjpeg';
      cell.appendChild(img);
    } else if (t.snapshot) {
      const img = document.createElement('img');
      img.className = 'vw-media'; img.alt = t.name;
      const load = () => { img.src = t.snapshot + (t.snapshot.includes('?') ? '&' : '?') + '_=' + Date.now() };
      load();
      const timer = setInterval(load, 2000);
      cleanups.push(() => clearInterval(timer));
      cell.dataset.state = 'snapshot';
      cell.appendChild(img);
    } else {
      const none = document.createElement('div');
      none.className = 'vw-none'; none.textContent = why ? 'no video: ' + why : 'no video source';
      cell.appendChild(none);
    }
  }

  function draw() {
    teardown();
    const tiles = model.tiles || [];
    const cols = Math.max(1, Math.min(model.columns, tiles.length || 1));
    root.style.gridTemplateColumns = `repeat(${cols}, minmax(0, 1fr))`;
    if (!tiles.length) {
      const none = document.createElement('div');
      none.className = 'vw-empty'; none.textContent = model.placeholder;
      root.appendChild(none);
      return;
    }
    for (const t of tiles) {
      const cell = document.createElement('div');
      cell.className = 'vw-cell';
      cell.dataset.camera = String(t.id);
      const label = document.createElement('div');
      label.className = 'vw-label';
      label.textContent = t.name + (t.note ? '  ·  ' + t.note : '');
      cell.appendChild(label);
      root.appendChild(cell);
      if (!t.hls) { still(cell, t, null); continue }
      const v = document.createElement('video');
      v.className = 'vw-media'; v.muted = true; v.autoplay = true; v.playsInline = true;
      cell.dataset.state = 'loading';
      v.addEventListener('playing', () => { cell.dataset.state = 'playing' });
      cell.appendChild(v);
      cleanups.push(() => { v.pause(); v.removeAttribute('src'); v.load() });
      const native = () => {
        if (!v.canPlayType('application/vnd.apple.mpegurl')) return false;
        v.src = t.hls;
        v.addEventListener('error', () => still(cell, t, 'native HLS error'));
        v.play().catch(() => {});
        return true;
      };
      loadHls(model.hls_src).then(Hls => {
        if (!Hls.isSupported()) {  // no Media Source Extensions (iOS Safari): the browser's own HLS
          if (!native()) still(cell, t, 'this browser has no Media Source Extensions');
          return;
        }
        const h = new Hls({ liveSyncDurationCount: 2, enableWorker: false });
        cleanups.push(() => h.destroy());
        h.on(Hls.Events.ERROR, (_e, d) => { if (d.fatal) { h.destroy(); still(cell, t, d.details) } });
        h.loadSource(t.hls);
        h.attachMedia(v);
        h.on(Hls.Events.MANIFEST_PARSED, () => v.play().catch(() => {}));
      }).catch(err => still(cell, t, String(err.message || err)));
    }
  }
  model.on('tiles', draw);
  model.on('columns', draw);
  model.on('remove', teardown);
  draw();
}
"""

_CSS = """
:host { display: block; }
.vw { display: grid; gap: 6px; width: 100%; height: 100%; }
.vw-cell { position: relative; background: #000; border: 1px solid #24456e; border-radius: 4px; overflow: hidden;
           aspect-ratio: 16 / 9; }
.vw-media { width: 100%; height: 100%; object-fit: cover; display: block; }
.vw-label { position: absolute; left: 0; right: 0; top: 0; padding: 0.3em 0.5em; font-size: var(--vw-font, 13px);
            color: #fff; background: linear-gradient(rgba(0,0,0,.75), rgba(0,0,0,0)); z-index: 1;
            white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.vw-none, .vw-empty { color: #8fb3d9; font-size: var(--vw-font, 13px); padding: 1em; }
.vw-empty { border: 1px dashed #24456e; border-radius: 4px; text-align: center; }
"""


class VideoWall(JSComponent):
    """A grid of camera players; set ``tiles`` (see module docstring) to change what plays."""

    tiles = param.List(default=[], doc="[{id, name, hls, mjpeg, snapshot, note}]")
    columns = param.Integer(default=2, bounds=(1, 8))
    hls_src = param.String(default=HLS_URL)
    placeholder = param.String(default="Click a camera to watch it.")

    _esm = _ESM
    _stylesheets: ClassVar[list[str]] = [_CSS]


def camera_tiles(session, camera_ids: Sequence[int], principal: Principal, *, note: str = "") -> list[dict]:
    """Tiles for ``camera_ids`` in that order, or [] when ``principal`` may not watch video."""
    if not sees_streams(principal) or not camera_ids:
        return []
    cams = {c.id: c for c in session.scalars(sa.select(Camera).where(Camera.id.in_([int(i) for i in camera_ids])))}
    return [{**video_sources(cams[i]), "note": note} for i in camera_ids if i in cams]
