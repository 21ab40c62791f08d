"""Pure builders from GeoDataFrames/rasters to deck.gl layer specs (dicts).

Each builder reprojects its input to EPSG:4326, refuses input without a
CRS or above its size limit (:class:`layers.errors.LayerError`), and
returns a dict usable in a ``pn.pane.DeckGL`` dict spec. This package
imports neither ``spatial`` nor ``panel``.
"""

from layers._common import deck_spec, view_for_bounds
from layers.errors import LayerError

__all__ = ["LayerError", "deck_spec", "view_for_bounds"]
