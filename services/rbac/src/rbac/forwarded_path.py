"""Turn the gateway's `X-Forwarded-Uri` into the path the target service will route on.

The service (uvicorn + Starlette) percent-decodes the path once and routes on the result, so we
decode exactly once too: `/files/x%2Fdownload` must be judged as `/files/x/download`, the route it
will really reach. Anything whose meaning could differ between us, the gateway and the service
(dot segments, empty segments, control characters, undecodable bytes) is refused, never guessed.
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote

MAX_URI_LENGTH = 8192
# A request target is printable ASCII; a decoded path must not hold control characters.
_NOT_TARGET_CHAR = re.compile(r"[^\x21-\x7e]")
_CONTROL_CHAR = re.compile(r"[\x00-\x1f\x7f]")


class AmbiguousPathError(ValueError):
    """The forwarded URI is missing, malformed or could be read more than one way."""


@dataclass(frozen=True, slots=True)
class ForwardedPath:
    service: str
    path: str  # always starts with "/", no trailing slash except the root itself


def parse_forwarded_uri(uri: str) -> ForwardedPath:
    if len(uri) > MAX_URI_LENGTH:
        raise AmbiguousPathError(f"the forwarded URI is longer than {MAX_URI_LENGTH} characters")
    if not uri.startswith("/"):
        raise AmbiguousPathError("the forwarded URI must be an absolute path")
    if _NOT_TARGET_CHAR.search(uri) is not None:
        raise AmbiguousPathError("the forwarded URI holds characters a request target cannot")
    path = uri.split("?", 1)[0].split("#", 1)[0]
    if "%" in path:
        try:
            path = unquote(path, errors="strict")
        except UnicodeDecodeError as exc:
            raise AmbiguousPathError("the forwarded path is not valid UTF-8") from exc
        if _CONTROL_CHAR.search(path) is not None:
            raise AmbiguousPathError("the forwarded path decodes to control characters")
    segments = path.split("/")[1:]
    if len(segments) > 1 and segments[-1] == "":
        # The service redirects `/files/` to `/files`: the same route.
        segments.pop()
    for segment in segments:
        if segment in ("", ".", ".."):
            raise AmbiguousPathError("the forwarded path holds empty or dot segments")
    if not segments:
        raise AmbiguousPathError("the forwarded path names no service")
    service, rest = segments[0], segments[1:]
    return ForwardedPath(service=service, path="/" + "/".join(rest))


def requested_path(uri: str | None) -> str:
    """The path the client asked for, without its query (which may carry secrets), for a
    problem's `instance`; empty when it is not a request target we would judge (too long or
    holding characters a target cannot), since echoing such a path could grow the answer past
    what the gateway relays."""
    path = (uri or "").split("?", 1)[0].split("#", 1)[0]
    if len(path) > MAX_URI_LENGTH or _NOT_TARGET_CHAR.search(path) is not None:
        return ""
    return path
