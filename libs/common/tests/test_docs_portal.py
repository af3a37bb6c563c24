"""The docs portal lists every service's OpenAPI document in one Swagger UI."""

import json
import re

import httpx
from fastapi import FastAPI

from common.docs_portal import SERVICES, portal_html, router


def _config(page: str) -> dict[str, object]:
    match = re.search(r"^const config = (.*);$", page, re.M)
    assert match is not None
    parsed: dict[str, object] = json.loads(match.group(1))
    return parsed


def test_portal_offers_a_spec_selector_over_every_service() -> None:
    config = _config(portal_html())
    assert config["urls"] == [{"url": f"/{s}/openapi.json", "name": s} for s in SERVICES]
    assert "StandaloneLayout" in portal_html()


def test_portal_loads_its_scripts_from_rbacs_docs_assets_not_a_cdn() -> None:
    page = portal_html()
    linked = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert {url.rsplit("/", 1)[1] for url in linked} >= {
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "swagger-ui.css",
    }
    assert all(url.startswith("/rbac/docs/assets/") for url in linked), linked
    assert "https://" not in page
    assert _config(page)["validatorUrl"] is None


def test_portal_page_cannot_be_closed_by_a_service_name() -> None:
    page = portal_html(("a</script><b",))
    assert "a</script><b" not in page


async def test_portal_route_serves_html_and_stays_out_of_the_schema() -> None:
    app = FastAPI()
    app.include_router(router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/portal")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/storage/openapi.json" in response.text
    assert "/portal" not in app.openapi()["paths"]
