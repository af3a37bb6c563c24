"""Alembic environment: runs on the connection `common.migrations` hands over."""

from common.migrations import run_on_connection
from rbac.models import Base

run_on_connection("rbac", Base.metadata)
