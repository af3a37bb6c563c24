import asyncio
import json
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from typing import Any

import httpx
import pytest

from common.ids import uuid7
from storage.cleanup import cleanup_stale_uploads
from storage.models import FileRecord
from storage.object_keys import OBJECT_PREFIX, sealed_key, staging_key
from storage.object_store import ObjectNotFoundError
from storage.service import FileService
from tasks import TASKS_ENTRY_POINT_GROUP

DAY = timedelta(days=1)
LATER = timedelta(days=8)


async def _start(
    api: httpx.AsyncClient, user: dict[str, str], route: str, size: int = 3
) -> dict[str, Any]:
    body = {"filename": "a.txt", "content_type": "text/plain", "size": size}
    response = await api.post(route, json=body, headers=user)
    assert response.status_code == 201, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def test_stale_pending_uploads_are_removed_with_their_bytes(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    single = await _start(api, alice, "/uploads")
    await s3_http.put(single["upload_url"], content=b"abc", headers=single["headers"])
    multi = await _start(api, alice, "/multipart")
    await s3_http.put(multi["parts"][0]["url"], content=b"abc")
    single_record = await files.files.get(single["file_id"])
    multi_record = await files.files.get(multi["file_id"])
    assert single_record is not None
    assert multi_record is not None

    report = await cleanup_stale_uploads(
        files.files, files.store, older_than=DAY, now=datetime.now(UTC) + LATER
    )

    assert report.files_removed >= 2
    assert report.failures == 0
    assert await files.files.get(single["file_id"]) is None
    assert await files.files.get(multi["file_id"]) is None
    with pytest.raises(ObjectNotFoundError):
        await files.store.stat(single_record.object_key)
    pending = await files.store.pending_multipart(multi_record.object_key)
    assert multi["upload_id"] not in {u.upload_id for u in pending}


async def test_recent_and_completed_uploads_are_kept(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    pending = await _start(api, alice, "/uploads")
    ready = await _start(api, alice, "/uploads")
    await s3_http.put(ready["upload_url"], content=b"abc", headers=ready["headers"])
    await api.post(f"/uploads/{ready['file_id']}/complete", headers=alice)

    await cleanup_stale_uploads(files.files, files.store, older_than=DAY)
    await cleanup_stale_uploads(
        files.files, files.store, older_than=LATER * 2, now=datetime.now(UTC) + LATER
    )

    assert (await api.get(f"/files/{pending['file_id']}", headers=alice)).status_code == 200
    await cleanup_stale_uploads(
        files.files, files.store, older_than=DAY, now=datetime.now(UTC) + LATER
    )
    assert (await api.get(f"/files/{pending['file_id']}", headers=alice)).status_code == 404
    assert (await api.get(f"/files/{ready['file_id']}", headers=alice)).status_code == 200
    kept = await files.files.get(ready["file_id"])
    assert kept is not None
    assert (await files.store.stat(kept.object_key)).size == 3


async def test_pending_upload_whose_url_is_still_valid_is_kept(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str]
) -> None:
    body = {"filename": "a.txt", "content_type": "text/plain", "size": 3, "expires_in": 604800}
    ticket = (await api.post("/uploads", json=body, headers=alice)).json()

    await cleanup_stale_uploads(
        files.files, files.store, older_than=DAY, now=datetime.now(UTC) + timedelta(days=2)
    )

    assert (await api.get(f"/files/{ticket['file_id']}", headers=alice)).status_code == 200


async def test_multipart_upload_without_metadata_is_aborted(files: FileService) -> None:
    key = "objects/orphan-upload"
    upload_id = await files.store.create_multipart(key, "text/plain")

    report = await cleanup_stale_uploads(
        files.files, files.store, older_than=DAY, now=datetime.now(UTC) + LATER
    )

    assert report.orphan_uploads_aborted >= 1
    assert upload_id not in {u.upload_id for u in await files.store.pending_multipart(key)}


async def test_object_without_metadata_is_removed(
    files: FileService, s3_http: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    orphan = f"{OBJECT_PREFIX}{uuid7()}"
    foreign = f"{OBJECT_PREFIX}not-a-file-id"
    for key in (orphan, foreign):
        url = files.store.presign_put(key, "text/plain", 3, expires_seconds=60, now=now)
        sent = await s3_http.put(url, content=b"abc", headers={"Content-Type": "text/plain"})
        assert sent.status_code == 200

    report = await cleanup_stale_uploads(files.files, files.store, older_than=DAY, now=now + LATER)

    assert report.orphan_objects_removed >= 1
    with pytest.raises(ObjectNotFoundError):
        await files.store.stat(orphan)
    assert (await files.store.stat(foreign)).size == 3


def test_cleanup_task_is_declared_for_the_worker() -> None:
    declared = {ep.value for ep in entry_points(group=TASKS_ENTRY_POINT_GROUP)}

    assert "storage.tasks" in declared


@pytest.mark.process
def test_the_task_module_imports_without_reading_any_settings() -> None:
    # An environment the settings refuse: importing must not read them (only a run does).
    done = subprocess.run(
        [sys.executable, "-c", "import storage.tasks"],
        env={"ENVIRONMENT": "not-an-environment"},
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr


@pytest.mark.process
async def test_worker_runs_the_cleanup_task_with_settings_from_the_environment(
    files: FileService, s3_http: httpx.AsyncClient
) -> None:
    now = datetime.now(UTC)
    record = FileRecord(
        owner_id="someone",
        bucket=files.store.bucket,
        object_key="objects/task-cleanup",
        filename="old.txt",
        content_type="text/plain",
        size=3,
        created_at=now - 2 * DAY,
        upload_expires_at=now - DAY,
    )
    await files.files.add(record)
    url = files.store.presign_put(record.object_key, "text/plain", 3, expires_seconds=60, now=now)
    await s3_http.put(url, content=b"old", headers={"Content-Type": "text/plain"})
    settings = files.settings
    env = {
        **os.environ,
        "ENVIRONMENT": "test",
        "LOG_JSON": "false",
        "REDIS_URL": settings.redis_url,
        "MONGO_URL": settings.mongo_url,
        "STORAGE_MONGO_DATABASE": settings.mongo_database,
        "S3_ENDPOINT": settings.s3_endpoint,
        "S3_ACCESS_KEY": settings.s3_access_key,
        "S3_SECRET_KEY": settings.s3_secret_key.get_secret_value(),
        "S3_REGION": settings.s3_region,
        "STORAGE_BUCKET": settings.bucket,
    }
    script = (
        "import json\n"
        "from importlib.metadata import entry_points\n"
        "from importlib import import_module\n"
        "from tasks import TASKS_ENTRY_POINT_GROUP\n"
        "from tasks.celery_app import process_app\n"
        "for ep in entry_points(group=TASKS_ENTRY_POINT_GROUP):\n"
        "    import_module(ep.module)\n"
        "print(json.dumps(process_app().tasks['storage.cleanup_stale_uploads']()))\n"
    )

    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()

    assert proc.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["files_removed"] >= 1
    assert result["failures"] == 0
    assert await files.files.get(record.id) is None


async def test_staging_objects_and_copies_no_file_serves_are_removed(
    api: httpx.AsyncClient, files: FileService, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    pending = await _start(api, alice, "/uploads")
    await s3_http.put(pending["upload_url"], content=b"abc", headers=pending["headers"])
    ready = await _start(api, alice, "/uploads")
    await s3_http.put(ready["upload_url"], content=b"abc", headers=ready["headers"])
    await api.post(f"/uploads/{ready['file_id']}/complete", headers=alice)
    # The ready file's upload URL used again, and a copy left by a crashed completion.
    await s3_http.put(ready["upload_url"], content=b"xyz", headers=ready["headers"])
    stray_copy = sealed_key(uuid.UUID(ready["file_id"]))
    await files.store.copy(
        staging_key(uuid.UUID(ready["file_id"])),
        stray_copy,
        if_etag=(await files.store.stat(staging_key(uuid.UUID(ready["file_id"])))).etag,
    )
    record = await files.files.get(ready["file_id"])
    assert record is not None

    # Everything written so far is old enough; the pending upload's URL is still valid.
    report = await cleanup_stale_uploads(files.files, files.store, older_than=timedelta(0))

    assert report.orphan_objects_removed >= 2
    for gone in (staging_key(uuid.UUID(ready["file_id"])), stray_copy):
        with pytest.raises(ObjectNotFoundError):
            await files.store.stat(gone)
    assert (await files.store.stat(record.object_key)).size == 3
    assert (await files.store.stat(staging_key(uuid.UUID(pending["file_id"])))).size == 3
