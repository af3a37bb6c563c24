"""Alembic environment: runs on the connection `common.migrations` hands over."""

from common.migrations import run_on_connection

run_on_connection("rbac", None)
