"""S3 (MinIO in compose, SeaweedFS locally) through the minio SDK.

The SDK is blocking: call it through `asyncio.to_thread`, never on the event loop.
"""

from urllib.parse import urlsplit

from minio import Minio


def create_s3(endpoint_url: str, access_key: str, secret_key: str, region: str) -> Minio:
    """A client for `http(s)://host:port`; the region is fixed so presigning needs no round trip."""
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"S3 endpoint must be an http(s) URL, got {endpoint_url!r}")
    return Minio(
        parts.netloc,
        access_key=access_key,
        secret_key=secret_key,
        secure=parts.scheme == "https",
        region=region,
    )
