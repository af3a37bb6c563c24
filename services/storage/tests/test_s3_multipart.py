import asyncio
import os
import urllib.request
from collections.abc import Iterator

import pytest
import urllib3
from minio import Minio
from minio.error import S3Error

from common.s3 import close_http_pools, create_s3
from mesh.seaweed import S3Server
from storage import s3_multipart

MIB = 1024 * 1024
KEY = "objects/sdk-check"


@pytest.fixture(scope="module")
def client(s3_server: S3Server) -> Iterator[Minio]:
    http = urllib3.PoolManager()
    client = create_s3(
        s3_server.endpoint,
        s3_server.access_key,
        s3_server.secret_key,
        s3_server.region,
        http_client=http,
    )
    if not client.bucket_exists("sdk-check"):
        client.make_bucket("sdk-check")
    yield client
    close_http_pools(http)


def _put_part(client: Minio, upload_id: str, number: int, data: bytes) -> str:
    url = client.get_presigned_url(
        "PUT",
        "sdk-check",
        KEY,
        extra_query_params={"partNumber": str(number), "uploadId": upload_id},
    )
    request = urllib.request.Request(url, data=data, method="PUT")  # noqa: S310 - loopback S3
    with urllib.request.urlopen(request) as response:  # noqa: S310 - loopback S3
        etag: str = response.headers["ETag"]
    return etag.strip('"')


async def test_create_list_and_complete_assemble_the_object(client: Minio) -> None:
    first, second = os.urandom(5 * MIB), os.urandom(100)
    upload_id = await asyncio.to_thread(
        s3_multipart.create_upload, client, "sdk-check", KEY, "application/pdf"
    )
    etags = [
        await asyncio.to_thread(_put_part, client, upload_id, 1, first),
        await asyncio.to_thread(_put_part, client, upload_id, 2, second),
    ]

    parts = await asyncio.to_thread(s3_multipart.list_parts, client, "sdk-check", KEY, upload_id)
    pending = await asyncio.to_thread(s3_multipart.list_uploads, client, "sdk-check", KEY)
    await asyncio.to_thread(
        s3_multipart.complete_upload, client, "sdk-check", KEY, upload_id, list(enumerate(etags, 1))
    )

    assert [(p.part_number, p.etag, p.size) for p in parts] == [
        (1, etags[0], len(first)),
        (2, etags[1], len(second)),
    ]
    assert upload_id in {u.upload_id for u in pending}
    info = await asyncio.to_thread(client.stat_object, "sdk-check", KEY)
    assert info.size == len(first) + len(second)
    assert info.content_type == "application/pdf"


async def test_aborted_upload_is_no_longer_listed_nor_usable(client: Minio) -> None:
    upload_id = await asyncio.to_thread(
        s3_multipart.create_upload, client, "sdk-check", KEY, "text/plain"
    )

    await asyncio.to_thread(s3_multipart.abort_upload, client, "sdk-check", KEY, upload_id)

    pending = await asyncio.to_thread(s3_multipart.list_uploads, client, "sdk-check", KEY)
    assert upload_id not in {u.upload_id for u in pending}
    with pytest.raises(S3Error) as caught:
        await asyncio.to_thread(s3_multipart.list_parts, client, "sdk-check", KEY, upload_id)
    assert caught.value.code == "NoSuchUpload"
