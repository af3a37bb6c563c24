"""Filenames as users give them: checked before storing, encoded safely for downloads.

The object key is always chosen by the server; the filename is only metadata and the name a
browser saves the download under, so it must not carry paths or control characters.
"""

import unicodedata
from urllib.parse import quote

MAX_FILENAME_BYTES = 255
# Bidirectional overrides make `evil\u202etxt.exe` display as `evilexe.txt`.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def filename_problem(filename: str) -> str | None:
    """Why `filename` is refused, or None when it is acceptable."""
    if not filename.strip():
        return "must not be empty"
    if len(filename.encode()) > MAX_FILENAME_BYTES:
        return f"must be at most {MAX_FILENAME_BYTES} bytes"
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in filename):
        return "must not contain control characters"
    if "/" in filename or "\\" in filename:
        return "must be a plain name, not a path"
    if filename.strip() in (".", ".."):
        return "must be a plain name, not a path"
    if filename != filename.strip():
        return "must not start or end with whitespace"
    return None


def content_disposition(filename: str) -> str:
    """`attachment` with an ASCII fallback name and the exact name per RFC 6266 / RFC 8187."""
    fallback = "".join(
        c if c.isascii() and c.isprintable() and c not in '"\\%;' else "_" for c in filename
    )
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"
