"""The caller's own sessions: log out, list, revoke one."""

from datetime import UTC, datetime

from fastapi import APIRouter, Response

from auth.deps import SessionServiceDep
from auth.errors import SessionNotFoundError
from auth.sessions.schemas import SessionRead
from auth.sessions.store import SessionRecord
from common.access import Access, access
from common.errors import error_responses
from common.pagination import Page, PageQueryDep, page_slice
from common.security import CurrentUserDep

router = APIRouter(tags=["sessions"])


def _at(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _session_out(record: SessionRecord, current_sid: str) -> SessionRead:
    return SessionRead(
        id=record.id,
        created_at=_at(record.created_at),
        last_used_at=_at(record.last_used_at),
        expires_at=_at(record.expires_at),
        user_agent=record.user_agent,
        ip=record.ip,
        current=record.id == current_sid,
    )


@router.post(
    "/logout",
    status_code=204,
    openapi_extra=access(Access.AUTHENTICATED),
    summary="End the current session; its tokens stop working at once",
)
async def logout(user: CurrentUserDep, sessions: SessionServiceDep) -> Response:
    await sessions.revoke(user.sid, user.sub)
    return Response(status_code=204)


@router.get(
    "/sessions", openapi_extra=access(Access.AUTHENTICATED), summary="The caller's sessions"
)
async def list_sessions(
    user: CurrentUserDep, sessions: SessionServiceDep, page: PageQueryDep
) -> Page[SessionRead]:
    records = await sessions.list_sessions(user.sub)
    window = page_slice(records, page)
    return Page(items=[_session_out(r, user.sid) for r in window], total=len(records))


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    openapi_extra=access(Access.AUTHENTICATED),
    summary="Revoke one of the caller's sessions",
    responses=error_responses(SessionNotFoundError),
)
async def delete_session(
    session_id: str, user: CurrentUserDep, sessions: SessionServiceDep
) -> Response:
    await sessions.revoke_own(user.sub, session_id)
    return Response(status_code=204)
