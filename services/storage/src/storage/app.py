"""`uvicorn --factory storage.app:create_app`: the storage service."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import certifi
import urllib3
from fastapi import FastAPI

from common import app as common_app
from common.lifespan import Resources, service_lifespan
from common.live_events.lifecycle import running_hub
from common.s3 import create_s3
from common.settings import load_settings
from common.tokens import KeySource
from storage.api import router
from storage.file_events import FILES_STREAM
from storage.file_events import router as events_router
from storage.models import FileRecord
from storage.object_store import ObjectStore
from storage.presigner import Credentials, Presigner
from storage.repository import FileRepository
from storage.service import FileService
from storage.settings import StorageSettings

SERVICE_NAME = "storage"


def s3_http_pool() -> urllib3.PoolManager:
    """Connections to S3 that give up within seconds when it is down.

    Each S3 call holds a worker thread while it waits; the SDK's default (5 retries with backoff,
    5-minute timeouts) would queue every request behind an outage. Reads may still take long:
    completing a 10,000-part upload makes S3 assemble the whole object.
    """
    return urllib3.PoolManager(
        timeout=urllib3.Timeout(connect=3.0, read=300.0),
        maxsize=16,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(total=1, backoff_factor=0.2, status_forcelist=[500, 502, 503, 504]),
    )


def build_object_store(settings: StorageSettings) -> ObjectStore:
    """The internal S3 client plus a presigner for the public endpoint."""
    secret = settings.s3_secret_key.get_secret_value()
    http = s3_http_pool()
    client = create_s3(
        settings.s3_endpoint,
        settings.s3_access_key,
        secret,
        settings.s3_region,
        http_client=http,
    )
    presigner = Presigner(
        settings.public_endpoint, Credentials(settings.s3_access_key, secret, settings.s3_region)
    )
    return ObjectStore(client, presigner, settings.bucket, http=http)


def create_app(
    settings: StorageSettings | None = None, *, keys: KeySource | None = None
) -> FastAPI:
    """The storage app; settings from the environment unless given, keys from auth's JWKS."""
    settings = settings or load_settings(StorageSettings)

    async def open_store() -> ObjectStore:
        store = build_object_store(settings)
        try:
            await store.ensure_bucket()
        except BaseException:
            store.close()
            raise
        return store

    @asynccontextmanager
    async def serve_files(app: FastAPI, resources: Resources) -> AsyncIterator[None]:
        redis = resources.redis_client()
        store: ObjectStore = app.state.s3
        app.state.files = FileService(FileRepository(), store, settings, events=redis)
        async with running_hub(app, settings, redis, FILES_STREAM):
            yield

    lifespan = service_lifespan(
        settings,
        redis=True,
        mongo=[FileRecord],
        s3=open_store,
        tokens=keys or True,
        publish_routes=True,
        started=serve_files,
    )
    return common_app.create_app(
        SERVICE_NAME,
        settings,
        routers=[router, events_router],
        lifespan=lifespan,
        description="Presigned uploads and downloads, multipart uploads, file metadata. Live file "
        "events: WebSocket `/storage/events` ([AsyncAPI](/storage/events/asyncapi.json), "
        "[console page](/storage/events/console)).",
    )
