"""Every service's Swagger UI and ReDoc, with their scripts served by the service itself."""

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from common.app import create_app
from common.docs_pages import ASSET_NAMES
from common.settings import ServiceSettings

# src/href attributes of a page: every one must stay on the service's own origin.
_LINKED = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    app = create_app("demo", ServiceSettings(), configure_logs=False)
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
        yield http


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_link_only_the_services_own_assets(
    client: httpx.AsyncClient, page: str
) -> None:
    response = await client.get(page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    linked = _LINKED.findall(response.text)
    assert linked
    assert all(url.startswith("/demo/docs/assets/") for url in linked), linked
    assert "'/demo/openapi.json'" in response.text or '"/demo/openapi.json"' in response.text
    assert "https://" not in response.text


async def test_swagger_ui_sends_nothing_to_the_online_validator(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert '"validatorUrl": null' in page


@pytest.mark.parametrize("name", ASSET_NAMES)
async def test_every_linked_asset_is_served_with_its_type_and_cacheable(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get(f"/docs/assets/{name}")
    assert response.status_code == 200
    assert len(response.content) > 500
    expected = {"js": "text/javascript", "css": "text/css", "png": "image/png"}
    assert response.headers["content-type"].startswith(expected[name.rsplit(".", 1)[1]])
    assert "max-age" in response.headers["cache-control"]


@pytest.mark.parametrize("name", ASSET_NAMES)
async def test_no_asset_names_a_url_the_browser_would_fetch_from_outside(
    client: httpx.AsyncClient, name: str
) -> None:
    # ReDoc's bundle loads its vendor's logo from a CDN unless patched on the way out.
    content = (await client.get(f"/docs/assets/{name}")).content
    assert b"cdn.redoc.ly/redoc/logo-mini.svg" not in content
    assert b"fonts.googleapis.com" not in content


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_pages_let_the_browser_load_only_from_their_own_origin(
    client: httpx.AsyncClient, page: str
) -> None:
    policy = (await client.get(page)).headers["content-security-policy"]
    assert "default-src 'self'" in policy
    assert "img-src 'self' data:" in policy


async def test_the_swagger_ui_bundle_is_version_5(client: httpx.AsyncClient) -> None:
    # Swagger UI 4 cannot render the OpenAPI 3.1 documents FastAPI writes.
    bundle = (await client.get("/docs/assets/swagger-ui-bundle.js")).text
    assert re.search(r'PACKAGE_VERSION:"5\.\d+\.\d+"', bundle)


@pytest.mark.parametrize("name", ["../app.py", "..%2F..%2Fpyproject.toml", "index.html", "x.js"])
async def test_a_name_outside_the_asset_list_is_a_404_problem(
    client: httpx.AsyncClient, name: str
) -> None:
    response = await client.get(f"/docs/assets/{name}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"


async def test_docs_pages_stay_out_of_the_openapi_document(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert not [p for p in paths if p.startswith(("/docs", "/redoc"))]


async def test_the_oauth2_redirect_page_is_served_for_swagger_ui(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    assert "swaggerUIRedirectOauth2" in response.text
