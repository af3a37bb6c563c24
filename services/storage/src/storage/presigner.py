"""AWS Signature V4 query presigning, computed locally (no round trip to S3).

The minio SDK signs only the `host` header of a presigned URL. A presigned single-part PUT must
also pin the content type, so this module signs any headers it is given; it also signs multipart
part URLs (`partNumber` + `uploadId`) and downloads. Signing keys are derived once per day.
"""

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from common.clock import utcnow

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_DEFAULT_PORTS = {"http": 80, "https": 443}


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
_UNRESERVED_PATH = re.compile(r"[A-Za-z0-9_.~/-]*")


def _uri_encode(value: str, *, keep_slash: bool = False) -> str:
    # Most values need no escaping; skipping `quote` for them halves the cost of a URL.
    if (_UNRESERVED_PATH if keep_slash else _UNRESERVED).fullmatch(value):
        return value
    return quote(value, safe="/~" if keep_slash else "~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


@dataclass(frozen=True, slots=True)
class Credentials:
    access_key: str
    secret_key: str
    region: str


class Presigner:
    """Presigned URLs for one S3 origin (`http(s)://host[:port]`), path-style addressing."""

    def __init__(self, origin: str, credentials: Credentials) -> None:
        parts = urlsplit(origin)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise ValueError("the S3 origin must be an http(s) URL")
        host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
        # Clients omit a default port from the Host header, so the signature must omit it too.
        if parts.port is not None and parts.port != _DEFAULT_PORTS[parts.scheme]:
            host = f"{host}:{parts.port}"
        self.scheme = parts.scheme
        self.host = host
        self.credentials = credentials
        self._keys: dict[str, bytes] = {}

    def object_url(
        self,
        method: str,
        bucket: str,
        key: str,
        *,
        expires_seconds: int,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A URL for `method` on `bucket/key`, valid `expires_seconds` from `now`.

        `headers` are signed: the client must send exactly these values.
        """
        return self.url(
            method,
            f"/{bucket}/{key}",
            expires_seconds=expires_seconds,
            query=query,
            headers=headers,
            now=now,
        )

    def url(
        self,
        method: str,
        path: str,
        *,
        expires_seconds: int,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        if not 1 <= expires_seconds <= 7 * 24 * 3600:
            raise ValueError("a presigned URL lives between 1 second and 7 days")
        moment = (now or utcnow()).astimezone(UTC)
        amz_date = moment.strftime("%Y%m%dT%H%M%SZ")
        day = amz_date[:8]
        scope = f"{day}/{self.credentials.region}/s3/aws4_request"
        signed = {"host": self.host}
        for name, value in (headers or {}).items():
            signed[name.lower()] = " ".join(value.split())
        signed_names = ";".join(sorted(signed))
        params = dict(query or {})
        params.update(
            {
                "X-Amz-Algorithm": ALGORITHM,
                "X-Amz-Credential": f"{self.credentials.access_key}/{scope}",
                "X-Amz-Date": amz_date,
                "X-Amz-Expires": str(expires_seconds),
                "X-Amz-SignedHeaders": signed_names,
            }
        )
        canonical_query = "&".join(
            f"{k}={v}"
            for k, v in sorted((_uri_encode(k), _uri_encode(v)) for k, v in params.items())
        )
        canonical_uri = _uri_encode(path, keep_slash=True)
        canonical_headers = "".join(f"{name}:{signed[name]}\n" for name in sorted(signed))
        canonical_request = "\n".join(
            (
                method.upper(),
                canonical_uri,
                canonical_query,
                canonical_headers,
                signed_names,
                UNSIGNED_PAYLOAD,
            )
        )
        string_to_sign = "\n".join(
            (ALGORITHM, amz_date, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
        )
        signature = hmac.new(
            self._signing_key(day), string_to_sign.encode(), hashlib.sha256
        ).hexdigest()
        return (
            f"{self.scheme}://{self.host}{canonical_uri}?{canonical_query}"
            f"&X-Amz-Signature={signature}"
        )

    def _signing_key(self, day: str) -> bytes:
        key = self._keys.get(day)
        if key is None:
            key = _hmac(("AWS4" + self.credentials.secret_key).encode(), day)
            for part in (self.credentials.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            # Only today's (and maybe yesterday's, around midnight) key is ever needed.
            self._keys = {k: v for k, v in self._keys.items() if k >= day} | {day: key}
        return key
