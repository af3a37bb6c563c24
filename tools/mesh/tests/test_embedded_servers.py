"""The embedded servers behind the testkit fixtures and the mesh: real protocols, clean stops."""

import asyncio
import io
import os
import signal
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pymongo
import pytest
import urllib3
from minio import Minio
from minio.error import S3Error
from pymongo import AsyncMongoClient, MongoClient
from pymongo.errors import PyMongoError

from common.s3 import close_http_pools
from mesh.launch import running
from mesh.mongo import mongo_launch, mongo_url
from mesh.net import free_port
from mesh.process import ProcessDiedError, group_alive
from mesh.seaweed import S3Server


@contextmanager
def s3_client(server: S3Server, secret_key: str | None = None) -> Iterator[Minio]:
    """An SDK client whose pooled connections are closed when the block ends."""
    http = urllib3.PoolManager()
    try:
        yield Minio(
            server.endpoint.split("://", 1)[1],
            access_key=server.access_key,
            secret_key=secret_key or server.secret_key,
            secure=False,
            region=server.region,
            http_client=http,
        )
    finally:
        close_http_pools(http)


async def test_mongo_url_stores_and_finds_documents(mongo_url: str) -> None:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_url)
    try:
        await client.fixture_check.things.insert_one({"name": "a", "n": 1})
        found = await client.fixture_check.things.find_one({"name": "a"}, {"_id": 0})
    finally:
        await client.close()
    assert found == {"name": "a", "n": 1}


async def _insert_and_count(url: str, n: int) -> int:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(url)
    try:
        await client.db.items.insert_one({"n": n})
        await client.db.items.create_index("n")
        return await client.db.items.count_documents({})
    finally:
        await client.close()


def _run_and_insert(data_dir: Path, n: int, *, kill: bool) -> int:
    port = free_port()
    with running(mongo_launch(data_dir, port), data_dir / "server.log") as proc:
        count = asyncio.run(_insert_and_count(mongo_url(port), n))
        if kill:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return count


@pytest.mark.process  # kills and restarts a server: make test, not make test-fast
async def test_mongo_data_survives_clean_stops_and_kills(tmp_path: Path) -> None:
    counts = [
        await asyncio.to_thread(_run_and_insert, tmp_path, n, kill=kill)
        for n, kill in ((1, False), (2, True), (3, False), (4, False))
    ]
    assert counts == [1, 2, 3, 4]


def test_stopping_a_server_leaves_no_process_in_its_group(tmp_path: Path) -> None:
    with running(mongo_launch(tmp_path, free_port()), tmp_path / "server.log") as proc:
        pgid = proc.pid
        assert group_alive(pgid)
    assert not group_alive(pgid)


def test_s3_server_refuses_unsigned_requests(s3_server: S3Server) -> None:
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(s3_server.endpoint + "/", timeout=5)  # noqa: S310 - loopback
    refused.value.close()
    assert refused.value.code == 403


def test_s3_server_refuses_a_wrong_secret(s3_server: S3Server) -> None:
    with (
        s3_client(s3_server, secret_key="not-the-secret") as client,
        pytest.raises(S3Error) as refused,
    ):
        client.list_buckets()
    assert refused.value.code == "SignatureDoesNotMatch"


def test_s3_server_stores_objects_for_signed_requests(s3_server: S3Server) -> None:
    with s3_client(s3_server) as client:
        client.make_bucket("fixture-check")
        client.put_object("fixture-check", "hello.txt", io.BytesIO(b"hello"), 5)
        response = client.get_object("fixture-check", "hello.txt")
        try:
            assert response.read() == b"hello"
        finally:
            response.close()
            response.release_conn()


@pytest.mark.process  # kills and restarts a server: make test, not make test-fast
def test_a_second_mongo_server_on_the_same_file_exits_naming_the_first(tmp_path: Path) -> None:
    with running(mongo_launch(tmp_path, free_port()), tmp_path / "first.log") as first:
        second = mongo_launch(tmp_path, free_port())
        with (
            pytest.raises(ProcessDiedError) as refused,
            running(second, tmp_path / "second.log"),
        ):
            pytest.fail("a second server started on a file already served")
    assert f"pid {first.pid}" in str(refused.value)


@pytest.mark.process  # kills and restarts a server: make test, not make test-fast
def test_mongo_stopped_during_a_long_write_restarts_with_the_committed_data(
    tmp_path: Path,
) -> None:
    port = free_port()
    with running(mongo_launch(tmp_path, port), tmp_path / "server.log") as proc:
        client: MongoClient[dict[str, object]] = MongoClient(mongo_url(port))
        try:
            client.db.items.insert_many([{"n": n} for n in range(300)])
            # Large enough to still run on the server when the client gives up and we stop it.
            with pytest.raises(PyMongoError) as gave_up, pymongo.timeout(1):
                client.db.items.insert_many([{"n": n} for n in range(5000)])
            assert gave_up.value.timeout
        finally:
            client.close()
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
    with running(mongo_launch(tmp_path, port), tmp_path / "server.log"):
        client = MongoClient(mongo_url(port))
        try:
            assert client.db.items.count_documents({"n": {"$lt": 300}}) >= 300
        finally:
            client.close()
