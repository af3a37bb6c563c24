"""Alembic environment: always handed an open connection by `rbac.migrations.upgrade`."""

from alembic import context
from sqlalchemy.engine import Connection

from rbac.models import Base

connection = context.config.attributes.get("connection")
if not isinstance(connection, Connection):
    raise RuntimeError("run migrations through `python -m rbac.migrations`")

context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
