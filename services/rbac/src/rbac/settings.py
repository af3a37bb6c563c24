"""rbac settings: its own database plus the shared Redis and JWT verification fields."""

from pydantic import Field

from common.settings import SqlSettings, service_config


class RbacSettings(SqlSettings):
    model_config = service_config("RBAC_")

    database_url: str = "sqlite+aiosqlite:///.mesh/rbac/rbac.db"
    # Safety net only: pub/sub invalidates caches at once; the TTL bounds how long a missed
    # message could keep a stale decision alive.
    cache_ttl_seconds: float = Field(30.0, gt=0, le=3600)
    # How long the pub/sub connection may stay silent (no message, no pong) before it is
    # considered lost and every decision falls back to per-request lookups.
    listener_heartbeat_seconds: float = Field(2.0, gt=0, le=60)
