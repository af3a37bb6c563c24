"""The storage service's live events: the caller's files as they become ready or are deleted.

Published on `events:storage:files` with the file's owner, so a user's socket
(`GET /storage/events`, WebSocket) carries only their own files; admins may watch everyone's.
"""

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field
from redis.asyncio import Redis

from common.clock import utcnow
from common.live_events.event_stream import publish_event, stream_key
from common.live_events.routes import events_router
from common.live_events.socket_session import EventFilter

FILES_STREAM = stream_key("storage", "files")
FILE_READY = "file.ready"
FILE_DELETED = "file.deleted"


class FileFilter(EventFilter):
    """Query parameters (and `subscribe` filters) of the storage event socket."""

    scope: str = Field("own", description="`own` (default) or `all` (admins: every user's files)")
    id: uuid.UUID | None = Field(None, description="one file")
    status: Literal["ready", "deleted"] | None = Field(None, description="one kind of change")


class FileEvent(BaseModel):
    """`file.ready` (an upload was completed) or `file.deleted`."""

    id: str
    filename: str
    content_type: str
    size: int
    status: Literal["ready", "deleted"]
    owner_id: str
    at: datetime


router = events_router(
    "storage",
    FileFilter,
    {FILE_READY: FileEvent, FILE_DELETED: FileEvent},
    summary="The caller's files as they become ready or are deleted",
)


async def announce_file(
    redis: "Redis | None",
    kind: str,
    *,
    file_id: uuid.UUID,
    filename: str,
    content_type: str,
    size: int,
    owner_id: str,
) -> None:
    """Publish a file event (never raises: the file's record is the truth)."""
    if redis is None:
        return
    event = FileEvent(
        id=str(file_id),
        filename=filename,
        content_type=content_type,
        size=size,
        status="ready" if kind == FILE_READY else "deleted",
        owner_id=owner_id,
        at=utcnow(),
    )
    await publish_event(redis, FILES_STREAM, kind, event.model_dump(mode="json"), owner=owner_id)
