"""The SQLModel classes describe exactly the schema the migrations build."""

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from common.sql import SqlDatabase
from rbac.models import TABLES
from testkit.plugin import SqlSchema


def _differences(connection: Connection) -> list[Any]:
    def rbac_only(obj: Any, name: str | None, kind: str, reflected: bool, compare_to: Any) -> bool:
        table = obj if kind == "table" else getattr(obj, "table", None)
        return table is None or table.name in TABLES

    context = MigrationContext.configure(
        connection,
        opts={"compare_type": True, "compare_server_default": True, "include_object": rbac_only},
    )
    metadata: MetaData = SQLModel.metadata
    return list(compare_metadata(context, metadata))


async def test_the_migrated_schema_and_the_models_agree(
    sql_url: str, sql_schema: SqlSchema
) -> None:
    database = SqlDatabase(sql_url, pool_size=1)
    try:
        async with database.engine.connect() as connection:
            differences = await connection.run_sync(_differences)
    finally:
        await database.dispose()

    assert differences == []


def test_every_rbac_table_has_a_model() -> None:
    assert set(TABLES) <= set(SQLModel.metadata.tables)
