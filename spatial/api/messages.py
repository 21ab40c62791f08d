"""In-app messages of the signed-in caller (bearer token): workers' new tasks, reopened and overdue
tickets, reporters' status changes, and role subscriptions (``spatial.notify.messages``).

``GET /api/inbox?unread=true&lang=en`` newest first; ``POST /api/inbox/{id}/read``. (``/api/messages``
is the sensors' published warning texts.)
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from sqlalchemy.orm import Session

from spatial.api.deps import current_principal, db_session
from spatial.auth import Principal
from spatial.bounds import INT8_MAX, AwareTime
from spatial.notify import messages

router = APIRouter(prefix="/api/inbox", tags=["notifications"])


@router.get("", summary="My in-app messages, newest first")
def list_messages(unread: bool = False, lang: str = Query("zh", max_length=8),
                  since: AwareTime | None = Query(None, description="created at or after (ISO 8601 with zone)"),
                  limit: int = Query(50, ge=1, le=messages.MAX_MESSAGES),
                  principal: Principal = Depends(current_principal),
                  session: Session = Depends(db_session)) -> list[dict]:
    return messages.for_principal(session, principal, unread_only=unread, lang=lang, since=since, limit=limit)


@router.post("/{message_id}/read", summary="Mark one of my messages read")
def read(message_id: Annotated[int, Path(ge=1, le=INT8_MAX)], principal: Principal = Depends(current_principal),
         session: Session = Depends(db_session)) -> dict:
    messages.mark_read(session, principal, message_id)
    return {"read": True}
