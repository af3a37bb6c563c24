import uuid
from typing import Any

import httpx
import pytest

SEVEN_DAYS = 7 * 24 * 3600


async def _total(api: httpx.AsyncClient, user: dict[str, str]) -> int:
    response = await api.get("/files", headers=user)
    total: int = response.json()["total"]
    return total


def _body(**overrides: Any) -> dict[str, Any]:
    return {"filename": "a.txt", "content_type": "text/plain", "size": 10, **overrides}


@pytest.mark.parametrize("route", ["/uploads", "/multipart"])
@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"filename": "../x"}, "invalid_filename"),
        ({"filename": "a/b.txt"}, "invalid_filename"),
        ({"filename": "..\\x"}, "invalid_filename"),
        ({"filename": ".."}, "invalid_filename"),
        ({"filename": "a\x00.txt"}, "invalid_filename"),
        ({"filename": "a\nb.txt"}, "invalid_filename"),
        ({"filename": "a\u202etxt.exe"}, "invalid_filename"),
        ({"filename": ""}, "invalid_filename"),
        ({"filename": "   "}, "invalid_filename"),
        ({"filename": "é" * 200}, "invalid_filename"),
        ({"content_type": "text"}, "invalid_content_type"),
        ({"content_type": "text/plain\r\nX-Evil: 1"}, "invalid_content_type"),
        ({"size": 0}, "invalid_size"),
        ({"size": -1}, "invalid_size"),
        ({"expires_in": SEVEN_DAYS + 1}, "invalid_expiry"),
        ({"expires_in": 0}, "invalid_expiry"),
    ],
)
async def test_bad_declaration_is_refused_with_its_code_and_nothing_is_stored(
    api: httpx.AsyncClient,
    alice: dict[str, str],
    route: str,
    overrides: dict[str, Any],
    code: str,
) -> None:
    before = await _total(api, alice)

    response = await api.post(route, json=_body(**overrides), headers=alice)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == code
    assert await _total(api, alice) == before


@pytest.mark.parametrize(
    ("route", "misspelled"),
    [("/uploads", "expiresIn"), ("/multipart", "part_sizes"), ("/multipart", "expires")],
)
async def test_an_unknown_field_is_refused_rather_than_silently_ignored(
    api: httpx.AsyncClient, alice: dict[str, str], route: str, misspelled: str
) -> None:
    before = await _total(api, alice)

    response = await api.post(route, json=_body(**{misspelled: 60}), headers=alice)

    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", misspelled]
    assert response.json()["errors"][0]["type"] == "extra_forbidden"
    assert await _total(api, alice) == before


async def test_expiry_of_exactly_seven_days_is_accepted(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await api.post("/uploads", json=_body(expires_in=SEVEN_DAYS), headers=alice)

    assert response.status_code == 201
    assert "X-Amz-Expires=604800" in response.json()["upload_url"]


async def test_download_expiry_over_seven_days_is_refused(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    ticket = (await api.post("/uploads", json=_body(), headers=alice)).json()

    response = await api.get(
        f"/files/{ticket['file_id']}/download",
        params={"expires_in": SEVEN_DAYS + 1},
        headers=alice,
    )

    assert response.status_code == 422
    assert response.json()["code"] == "invalid_expiry"
    assert response.json()["errors"][0]["loc"] == ["query", "expires_in"]


async def test_single_upload_over_its_limit_must_use_multipart(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await api.post("/uploads", json=_body(size=8 * 1024 * 1024 + 1), headers=alice)

    assert response.status_code == 422
    assert response.json()["code"] == "use_multipart"


@pytest.mark.parametrize(
    ("part_size", "code"),
    [(5 * 1024 * 1024 - 1, "invalid_part_size"), (5 * 1024**3 + 1, "invalid_part_size")],
)
async def test_part_size_outside_s3_bounds_is_refused(
    api: httpx.AsyncClient, alice: dict[str, str], part_size: int, code: str
) -> None:
    response = await api.post("/multipart", json=_body(part_size=part_size), headers=alice)

    assert response.status_code == 422
    assert response.json()["code"] == code


async def test_more_than_ten_thousand_parts_are_refused(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    size = 10_001 * 5 * 1024 * 1024
    response = await api.post(
        "/multipart", json=_body(size=size, part_size=5 * 1024 * 1024), headers=alice
    )

    assert response.status_code == 422
    assert response.json()["code"] == "too_many_parts"


@pytest.mark.parametrize("route", ["/uploads", "/multipart"])
@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"content_type": "application/x-msdownload"}, "content_type_not_allowed"),
        ({"content_type": "imagex/png"}, "content_type_not_allowed"),
        ({"size": 1024 * 1024 + 1}, "file_too_large"),
        ({"expires_in": 3601}, "invalid_expiry"),
    ],
)
async def test_configured_limits_are_enforced(
    restricted_api: httpx.AsyncClient,
    alice: dict[str, str],
    route: str,
    overrides: dict[str, Any],
    code: str,
) -> None:
    response = await restricted_api.post(route, json=_body(**overrides), headers=alice)

    expected = "use_multipart" if code == "file_too_large" and route == "/uploads" else code
    assert response.status_code == 422
    assert response.json()["code"] == expected


@pytest.mark.parametrize("content_type", ["text/plain", "image/png", "IMAGE/webp"])
async def test_allowed_content_types_and_patterns_pass(
    restricted_api: httpx.AsyncClient, alice: dict[str, str], content_type: str
) -> None:
    response = await restricted_api.post(
        "/uploads", json=_body(content_type=content_type), headers=alice
    )

    assert response.status_code == 201


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/files/{}"),
        ("GET", "/files/{}/download"),
        ("DELETE", "/files/{}"),
        ("POST", "/uploads/{}/complete"),
        ("DELETE", "/multipart/{}"),
    ],
)
async def test_unknown_file_id_is_not_found(
    api: httpx.AsyncClient, alice: dict[str, str], method: str, path: str
) -> None:
    response = await api.request(method, path.format(uuid.uuid4()), headers=alice)

    assert response.status_code == 404
    assert response.json()["code"] == "file_not_found"


async def test_malformed_file_id_is_invalid_input(
    api: httpx.AsyncClient, alice: dict[str, str]
) -> None:
    response = await api.get("/files/not-a-uuid", headers=alice)

    assert response.status_code == 422
    assert response.json()["code"] == "validation_failed"


async def test_requests_without_a_token_are_unauthorized(api: httpx.AsyncClient) -> None:
    response = await api.post("/uploads", json=_body())

    assert response.status_code == 401
    assert response.json()["code"] == "missing_token"
