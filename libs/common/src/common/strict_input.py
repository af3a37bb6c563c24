"""Input taken as the OpenAPI states it: a JSON body's booleans and numbers are not coerced.

FastAPI validates a parsed JSON body in pydantic's Python mode, whose lax rules read `0` and
`"yes"` as `true` and `"10"` or `10.0` as the integer 10, while the schema says boolean and
integer: a client that sent the wrong type was served as if it had not. Body fields therefore use
pydantic's `StrictBool`, `StrictInt` and `StrictFloat` (a float field still takes a JSON integer),
and `refuse_lax_bodies` makes a route declaring a lax one fail at start-up instead of in review.

Whole models are not made strict: strict Python mode also refuses the ISO strings a JSON body
carries for datetimes, UUIDs and enumerations.

Query parameters arrive as text, so their numbers are parsed, but only from integer digits
(`DecimalDigits`): pydantic's lax int reads `?limit=1.0` and `?limit=1_0` too.
"""

import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any

from fastapi import APIRouter
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BeforeValidator, TypeAdapter

_LAX_SCALARS = {"bool": "StrictBool", "int": "StrictInt", "float": "StrictFloat"}
# Keys of a core schema that hold values or serializers, not validation schemas.
_NOT_VALIDATION = frozenset({"default", "metadata", "serialization", "ref", "schema_ref"})
_INTEGER_TEXT = re.compile(r"-?[0-9]+")


def _integer_text(value: Any) -> Any:
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value) is None:
        raise ValueError("must be an integer")
    return value


DecimalDigits = BeforeValidator(_integer_text)
"""Metadata for an integer query parameter: decimal digits with an optional minus sign, no more.
It goes after `Query(...)`, as in `Annotated[int, Query(ge=1), DecimalDigits]`: before it, the
bounds would apply to the validator and drop out of the OpenAPI's minimum and maximum."""


class LaxBodyError(TypeError):
    """A route's body has a boolean or number field that pydantic would coerce."""


def refuse_lax_bodies(router: APIRouter) -> None:
    """Raise `LaxBodyError` naming every JSON body field of `router` that is a lax bool, int or
    float, with the strict type to use instead."""
    found: list[str] = []
    for route in router.routes:
        if not isinstance(route, APIRoute) or route.body_field is None:
            continue
        info = route.body_field.field_info
        # A form's values are all text: parsing its numbers is the point.
        if isinstance(info, Form):
            continue
        annotation: Any = info.annotation
        if info.metadata:
            annotation = Annotated[(annotation, *info.metadata)]
        methods = ",".join(sorted(route.methods or ()))
        found += [
            f"{methods} {route.path} {where}: a lax {kind}, use {_LAX_SCALARS[kind]}"
            for where, kind in _lax_scalars(TypeAdapter(annotation).core_schema, "body")
        ]
    if found:
        raise LaxBodyError(
            "JSON body fields that would take strings and other types for booleans and "
            "numbers:\n" + "\n".join(found)
        )


def _lax_scalars(node: Any, where: str) -> Iterator[tuple[str, str]]:
    if isinstance(node, list):
        for item in node:
            yield from _lax_scalars(item, where)
        return
    if not isinstance(node, Mapping):
        return
    kind = node.get("type")
    config = node.get("config")
    if kind == "model" and isinstance(config, Mapping) and config.get("strict"):
        return  # every field of a strict model is strict
    if kind in _LAX_SCALARS and not node.get("strict"):
        yield where, kind
    for key, value in node.items():
        if key in _NOT_VALIDATION:
            continue
        if key == "fields" and isinstance(value, Mapping):
            for name, field in value.items():
                yield from _lax_scalars(field, f"{where}.{name}")
        else:
            yield from _lax_scalars(value, where)
