"""`SqlRepository`: the base of a repository over the request's SQL session.

Each repository's `page(...)` builds its query (filters, order) and hands it to `select_page`,
the one way a SQL list is counted and cut into a page.
"""

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from common.pagination import PageParams


class SqlRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def select_page[T](self, query: Select[T], params: PageParams) -> tuple[list[T], int]:
        """The `params` window of `query` (which sets its order) and how many rows it matches."""
        total = await self.session.scalar(
            select(func.count()).select_from(query.order_by(None).subquery())
        )
        rows = await self.session.scalars(query.limit(params.limit).offset(params.offset))
        return list(rows), int(total or 0)
