"""Redis (or Valkey) client from a URL."""

from redis.asyncio import Redis


def create_redis(url: str, *, timeout: float = 5.0) -> "Redis":
    """A pooled client returning `str`; commands fail after `timeout` instead of hanging."""
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        health_check_interval=30,
    )
