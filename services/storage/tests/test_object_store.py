import pytest

from common.s3 import create_s3
from mesh.net import free_port
from storage.app import s3_http_pool
from storage.errors import StorageUnavailableError
from storage.object_store import ObjectStore
from storage.presigner import Credentials, Presigner


async def test_unreachable_s3_is_reported_as_unavailable() -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"
    client = create_s3(endpoint, "key", "secret", "us-east-1", http_client=s3_http_pool())
    store = ObjectStore(
        client, Presigner(endpoint, Credentials("key", "secret", "us-east-1")), "bucket"
    )

    with pytest.raises(StorageUnavailableError) as caught:
        await store.stat("objects/x")

    assert caught.value.status == 503
    assert caught.value.instance_code == "storage_unavailable"
