"""Storage tasks the worker runs (found through the `async_fastapi_multidb.tasks` entry point)."""

from datetime import timedelta

from common.mongo import init_mongo
from common.settings import load_settings
from storage.app import build_object_store
from storage.cleanup import cleanup_stale_uploads as run_cleanup
from storage.models import FileRecord
from storage.repository import FileRepository
from storage.settings import StorageSettings
from tasks.tasks_api import task


@task("storage.cleanup_stale_uploads", idempotent=True, admin_only=True)
async def cleanup_stale_uploads(older_than_seconds: int | None = None) -> dict[str, int]:
    """Remove uploads never completed: pending files older than `older_than_seconds` (default
    STORAGE_STALE_UPLOAD_SECONDS, one day) whose URLs have expired, orphaned multipart uploads
    and objects no file serves; seals files made ready before staging keys whose upload URL is
    still valid. Returns what it removed and sealed, and how many removals failed."""
    settings = load_settings(StorageSettings)
    age = older_than_seconds if older_than_seconds is not None else settings.stale_upload_seconds
    mongo = await init_mongo(settings.mongo_url, settings.mongo_database, [FileRecord])
    store = build_object_store(settings)
    try:
        report = await run_cleanup(
            FileRepository(), store, older_than=timedelta(seconds=max(0, age))
        )
    finally:
        store.close()
        await mongo.close()
    return {
        "files_removed": report.files_removed,
        "orphan_uploads_aborted": report.orphan_uploads_aborted,
        "orphan_objects_removed": report.orphan_objects_removed,
        "failures": report.failures,
        "legacy_files_sealed": report.legacy_files_sealed,
    }
