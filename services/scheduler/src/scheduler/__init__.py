"""Scheduler service: periodic Celery tasks in SQL and the DatabaseScheduler for beat."""
