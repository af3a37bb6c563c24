"""The one clock: every stored or compared instant is an aware UTC datetime."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)
