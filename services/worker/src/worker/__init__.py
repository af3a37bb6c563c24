"""Celery worker with native async def tasks and a typed task API."""
