"""`?limit=&offset=` in, `{items, total}` out: the same in every service."""

from collections.abc import Sequence
from typing import Annotated

from fastapi import Depends, Query
from pydantic import BaseModel

from common.strict_input import DecimalDigits

MAX_LIMIT = 200


class PageParams(BaseModel):
    limit: int = 50
    offset: int = 0


def page_params(
    limit: Annotated[
        int, Query(ge=1, le=MAX_LIMIT, description="Items per page"), DecimalDigits
    ] = 50,
    offset: Annotated[
        int, Query(ge=0, le=10_000_000, description="Items to skip"), DecimalDigits
    ] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageQueryDep = Annotated[PageParams, Depends(page_params)]


class Page[T](BaseModel):
    items: list[T]
    total: int


def page_slice[T](items: Sequence[T], params: PageParams) -> list[T]:
    """The `params` window of a list already held in memory (its `total` is `len(items)`)."""
    return list(items[params.offset : params.offset + params.limit])
