"""The local geocoder: an address text or id to a point, over the district's address points.

The address points are the ``address`` table (the OSM import's ``addresses``
theme: ``addr:street`` + ``addr:housenumber`` and the name of the place, EPSG:4326
points; see :mod:`spatial.io.osm`). No outside service is asked.

Matching is trigram similarity (PostgreSQL ``pg_trgm``, GIN index
``ix_address_text_trgm`` of migration 0015) of the query against
:data:`ADDRESS_TEXT` (``street housenumber name``, lower case), so word order,
abbreviations ("Ave" / "Avenue"), missing spaces and small typos still match,
in Latin and CJK scripts alike (the cluster's ``C.UTF-8`` ctype makes CJK
characters trigram letters). Among similar addresses one whose house number
appears in the query wins. A query whose best match is below
:data:`MIN_SIMILARITY` is refused, never guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from spatial.errors import ValidationError

#: The address text matched (kept in step with migration 0015's index expression).
ADDRESS_TEXT = "lower(coalesce(street, '') || ' ' || coalesce(housenumber, '') || ' ' || coalesce(name, ''))"
#: Lowest trigram similarity (0-1) accepted as a match.
MIN_SIMILARITY = 0.3
#: Longest address text looked up, characters.
MAX_QUERY_CHARS = 200

_NUMBERS = re.compile(r"\d+[a-zA-Z]?")
_NOISE = re.compile(r"[,;:#()\[\]\"'/\\]+|\bno\.?(?=\s*\d)|号", re.IGNORECASE)

_SEARCH = sa.text(f"""
SELECT id, street, housenumber, name, ST_X(geom) AS lon, ST_Y(geom) AS lat,
       similarity({ADDRESS_TEXT}, :q) AS score
FROM address
WHERE {ADDRESS_TEXT} % :q
ORDER BY (lower(coalesce(housenumber, '')) = ANY(:numbers)) DESC, score DESC, id
LIMIT 1
""")


@dataclass(frozen=True)
class Located:
    """An address point: ``lon``/``lat`` in EPSG:4326 degrees, its label and the match score (1 for an id)."""

    address_id: int
    lon: float
    lat: float
    label: str
    score: float


def normalise(text: str) -> str:
    """The query as matched: lower case, punctuation and "No."/"号" removed, spaces collapsed."""
    return " ".join(_NOISE.sub(" ", text).lower().split())


def _label(street: str | None, housenumber: str | None, name: str | None) -> str:
    return " ".join(p for p in (street, housenumber) if p) or (name or "")


def locate_address(session: Session, text: str) -> Located:
    """The address point best matching ``text``; ValidationError when nothing matches well enough."""
    q = normalise(text or "")[:MAX_QUERY_CHARS]
    if not q:
        raise ValidationError("address_string is empty")
    numbers = [n.lower() for n in _NUMBERS.findall(q)]
    session.execute(sa.text("SELECT set_config('pg_trgm.similarity_threshold', :lim, true)"),
                    {"lim": str(MIN_SIMILARITY)})  # the % operator's threshold, this transaction only
    row = session.execute(_SEARCH, {"q": q, "numbers": numbers}).mappings().first()
    if row is None:
        raise ValidationError(f"address_string {text[:80]!r} matches no address point of the district; "
                              "send lat and long")
    return Located(row["id"], row["lon"], row["lat"], _label(row["street"], row["housenumber"], row["name"]),
                   float(row["score"]))


def locate_address_id(session: Session, address_id: str) -> Located:
    """The address point of ``address_id``: the ``address`` row id, or its OSM id (``node/123``)."""
    key = (address_id or "").strip()
    cond = "id = :id" if key.isdigit() and int(key) < 2**31 else "osm_id = :key"
    row = session.execute(sa.text(f"SELECT id, street, housenumber, name, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                                  f"FROM address WHERE {cond} ORDER BY id LIMIT 1"),
                          {"id": int(key) if key.isdigit() and int(key) < 2**31 else None, "key": key[:32]}
                          ).mappings().first()
    if row is None:
        raise ValidationError(f"address_id {key[:40]!r} is not an address of the district; send lat and long")
    return Located(row["id"], row["lon"], row["lat"], _label(row["street"], row["housenumber"], row["name"]), 1.0)
