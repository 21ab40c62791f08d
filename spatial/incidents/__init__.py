"""Emergency command: incidents, impact analysis, nearby resources, joint dispatch, geofences, event mode.

Importing the package registers the geofence checks on the ingestion hooks of the lower layers
(``spatial.workers.positions.AFTER_TRUSTED_FIXES``, ``spatial.sensors.cameras.AFTER_DETECTION``), so
those layers never import this one. Every process that serves or ingests imports it: the API
(``spatial.api.main``), its jobs and the CLI.
"""

from spatial.incidents import geofences as _geofences
from spatial.sensors import cameras as _cameras
from spatial.workers import positions as _positions

if _geofences.on_worker_fixes not in _positions.AFTER_TRUSTED_FIXES:
    _positions.AFTER_TRUSTED_FIXES.append(_geofences.on_worker_fixes)
if _geofences.on_detection not in _cameras.AFTER_DETECTION:
    _cameras.AFTER_DETECTION.append(_geofences.on_detection)
