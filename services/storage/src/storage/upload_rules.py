"""What an upload may declare: content type, size, part size and URL expiry."""

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from storage.errors import InvalidUploadRequestError
from storage.filenames import filename_problem
from storage.settings import MAX_PART_SIZE, MAX_PARTS, MIB, MIN_PART_SIZE, StorageSettings

_TCHARS = r"[A-Za-z0-9!#$&^_.+-]+"
# RFC 9110 §8.3.1 with its optional whitespace (space and tab only) and quoted strings in ASCII:
# the value travels in an S3 request header, and a newline or a character beyond Latin-1 there
# was a 500 (found by the fuzzing run).
_QUOTED = r'"[\t !#-\[\]-~]*"'
_PARAMETERS = rf"(?:[ \t]*;[ \t]*{_TCHARS}=(?:{_TCHARS}|{_QUOTED}))*"
_CONTENT_TYPE = re.compile(rf"^(?P<type>{_TCHARS})/(?P<subtype>{_TCHARS}){_PARAMETERS}$")
# The same grammar as the OpenAPI states it (no named groups there).
CONTENT_TYPE_PATTERN = rf"^{_TCHARS}/{_TCHARS}{_PARAMETERS}$"
MAX_CONTENT_TYPE_LENGTH = 255


@dataclass(frozen=True, slots=True)
class PartPlan:
    part_size: int
    part_count: int

    def expected_size(self, part_number: int, total: int) -> int:
        """The size part `part_number` (1-based) must have for a file of `total` bytes."""
        if part_number < self.part_count:
            return self.part_size
        return total - self.part_size * (self.part_count - 1)


def check_filename(filename: str) -> None:
    problem = filename_problem(filename)
    if problem is not None:
        raise InvalidUploadRequestError("filename", problem, code="invalid_filename")


def check_content_type(content_type: str, allowed: Sequence[str]) -> None:
    if len(content_type) > MAX_CONTENT_TYPE_LENGTH or not (
        match := _CONTENT_TYPE.fullmatch(content_type)
    ):
        raise InvalidUploadRequestError(
            "content_type", "must be a media type such as text/plain", code="invalid_content_type"
        )
    if not allowed:
        return
    media_type = f"{match['type']}/{match['subtype']}".lower()
    for pattern in (p.strip().lower() for p in allowed):
        if pattern == media_type or (
            pattern.endswith("/*") and media_type.startswith(pattern[:-1])
        ):
            return
    raise InvalidUploadRequestError(
        "content_type", f"{media_type} is not allowed", code="content_type_not_allowed"
    )


def check_size(size: int, limit: int, *, too_large_code: str, hint: str = "") -> None:
    if size <= 0:
        raise InvalidUploadRequestError(
            "size", "must be a positive number of bytes", code="invalid_size"
        )
    if size > limit:
        raise InvalidUploadRequestError(
            "size", f"must be at most {limit} bytes{hint}", code=too_large_code
        )


def resolve_expiry(
    requested: int | None, settings: StorageSettings, *, location: str = "body"
) -> int:
    if requested is None:
        return settings.url_expiry_seconds
    if requested < 1 or requested > settings.max_url_expiry_seconds:
        raise InvalidUploadRequestError(
            "expires_in",
            f"must be between 1 and {settings.max_url_expiry_seconds} seconds",
            code="invalid_expiry",
            location=location,
        )
    return requested


def plan_parts(size: int, requested: int | None, default_part_size: int) -> PartPlan:
    """Part size and count: the requested size, else the default grown until 10,000 parts fit."""
    if requested is not None:
        if not MIN_PART_SIZE <= requested <= MAX_PART_SIZE:
            raise InvalidUploadRequestError(
                "part_size",
                f"must be between {MIN_PART_SIZE} and {MAX_PART_SIZE} bytes",
                code="invalid_part_size",
            )
        part_size = requested
    else:
        # Whole MiB keep part boundaries easy for clients to compute and check.
        needed = math.ceil(size / MAX_PARTS / MIB) * MIB
        part_size = min(max(default_part_size, needed), MAX_PART_SIZE)
    part_count = math.ceil(size / part_size)
    if part_count > MAX_PARTS:
        raise InvalidUploadRequestError(
            "part_size",
            f"{part_count} parts exceed the limit of {MAX_PARTS}; choose larger parts",
            code="too_many_parts",
        )
    return PartPlan(part_size=part_size, part_count=part_count)
