"""Response bodies of the session routes."""

from datetime import datetime

from pydantic import BaseModel


class SessionRead(BaseModel):
    id: str
    created_at: datetime
    last_used_at: datetime
    expires_at: datetime
    user_agent: str
    ip: str
    current: bool
