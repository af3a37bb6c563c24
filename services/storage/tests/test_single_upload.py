import os

import httpx

FILE_PATH = "/files/{}"


async def _start(
    api: httpx.AsyncClient, user: dict[str, str], data: bytes, content_type: str = "text/plain"
) -> dict[str, object]:
    response = await api.post(
        "/uploads",
        json={"filename": "notes été.txt", "content_type": content_type, "size": len(data)},
        headers=user,
    )
    assert response.status_code == 201, response.text
    ticket: dict[str, object] = response.json()
    return ticket


async def test_single_upload_through_presigned_url_downloads_the_same_bytes(
    api: httpx.AsyncClient, alice: dict[str, str], s3_http: httpx.AsyncClient
) -> None:
    data = os.urandom(100_000)
    ticket = await _start(api, alice, data)
    assert ticket["method"] == "PUT"
    assert ticket["headers"] == {"Content-Type": "text/plain"}

    put = await s3_http.put(str(ticket["upload_url"]), content=data, headers=ticket["headers"])  # type: ignore[arg-type]
    assert put.status_code == 200, put.text
    done = await api.post(f"/uploads/{ticket['file_id']}/complete", headers=alice)
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "ready"
    assert done.json()["size"] == len(data)

    link = await api.get(f"/files/{ticket['file_id']}/download", headers=alice)
    assert link.status_code == 200, link.text
    download = await s3_http.get(link.json()["url"])
    assert download.status_code == 200
    assert download.content == data
    assert "filename*=UTF-8''notes%20%C3%A9t%C3%A9.txt" in download.headers["content-disposition"]
