"""S3 (MinIO in compose, SeaweedFS locally) through the minio SDK.

The SDK is blocking: call it through `asyncio.to_thread`, never on the event loop.
"""

import contextlib
from urllib.parse import urlsplit

import urllib3
from minio import Minio


def create_s3(
    endpoint_url: str,
    access_key: str,
    secret_key: str,
    region: str,
    *,
    http_client: urllib3.PoolManager | None = None,
) -> Minio:
    """A client for `http(s)://host:port`; the region is fixed so presigning needs no round trip.

    `http_client` replaces the SDK's default pool (5 retries with backoff, 5-minute timeouts).
    """
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"S3 endpoint must be an http(s) URL, got {endpoint_url!r}")
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,
        http_client=http_client,
    )


def close_http_pools(http: urllib3.PoolManager) -> None:
    """Close every pooled connection now.

    `PoolManager.clear()` (urllib3 2.8) only forgets its pools; their sockets then close whenever
    the garbage collector reaches them, with a ResourceWarning at some unrelated moment.
    """
    for key in http.pools.keys():  # noqa: SIM118 - the container refuses iteration
        with contextlib.suppress(KeyError):  # dropped by another thread meanwhile
            http.pools[key].close()
    http.clear()
