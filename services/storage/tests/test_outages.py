import asyncio
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import httpx
from beanie import init_beanie
from fastapi import FastAPI

from storage.app import create_app
from storage.models import FileRecord
from storage.settings import StorageSettings
from testkit.embedded import mongo_server
from testkit.tokens import TokenSigner


async def test_unreachable_mongodb_answers_503_and_ready_names_it(
    storage_app: tuple[FastAPI, httpx.AsyncClient],
    storage_settings_factory: Callable[..., StorageSettings],
    signer: TokenSigner,
    alice: dict[str, str],
    tmp_path: Path,
) -> None:
    session_app, _ = storage_app
    servers = ExitStack()
    mongo_url = await asyncio.to_thread(servers.enter_context, mongo_server(tmp_path / "mongo"))
    app = create_app(storage_settings_factory(mongo_url=mongo_url), keys=signer.keys())
    try:
        async with app.router.lifespan_context(app):
            await asyncio.to_thread(servers.close)
            transport = httpx.ASGITransport(app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://storage") as api:
                listed = await api.get("/files", headers=alice)
                ready = await api.get("/ready")
    finally:
        await asyncio.to_thread(servers.close)
        # Beanie binds the document class to the last database initialised: give it back.
        session_settings: StorageSettings = session_app.state.settings
        await init_beanie(
            database=session_app.state.mongo[session_settings.mongo_database],
            document_models=[FileRecord],
        )

    assert listed.status_code == 503
    assert listed.json()["code"] == "metadata_unavailable"
    assert ready.status_code == 503
    assert ready.json()["detail"] == "dependency not ready: mongo"
