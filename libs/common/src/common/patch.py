"""PATCH bodies: a field left out stays as it is, and `null` clears only a field that may be empty.

A field that may not be empty is still optional in the body (`T | None = None`, so leaving it out
is possible), but an explicit `null` for it is refused as `null_not_allowed` instead of being
read as "no change": a client that sends `{"name": null}` learns it did nothing.
"""

from collections.abc import Iterable, Mapping
from typing import Any

from common.errors import InvalidInputError


def never_null(schema: dict[str, Any]) -> None:
    """`json_schema_extra` of such a field: the OpenAPI shows it as optional but not nullable."""
    (kept,) = (v for v in schema.pop("anyOf") if v != {"type": "null"})
    schema.pop("default", None)
    schema.update(kept)


def refuse_nulls(changes: Mapping[str, Any], fields: Iterable[str]) -> None:
    """Raise `InvalidInputError` (`null_not_allowed`) for the first of `fields` sent as null;
    `changes` is the body's `model_dump(exclude_unset=True)`."""
    for field in sorted(set(fields) & changes.keys()):
        if changes[field] is None:
            raise InvalidInputError(field, "may not be null", code="null_not_allowed")
