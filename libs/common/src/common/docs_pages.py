"""Swagger UI at `/docs` and ReDoc at `/redoc`, with their scripts served by the service itself.

The browser code comes from pinned PyPI packages that ship the upstream distributions
(`swagger-ui-bundle-v2` for Swagger UI with its standalone preset, `fastapi-offline` for ReDoc's
standalone bundle), served same-origin under `/docs/assets/`: the pages work on a machine
without internet access, and no page loads anything from outside the mesh.

FastAPI serves these pages outside the OpenAPI document; the rbac registry adds `DOCS_PATHS` to
every service's routes as public ones.
"""

import asyncio
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import FileResponse, HTMLResponse, Response
from swagger_ui_bundle import swagger_ui_path

from common.errors import NotFoundError

ASSETS_PATH = "/docs/assets"
OAUTH2_REDIRECT_PATH = "/docs/oauth2-redirect"
# Every path the docs add to a service; all of them are public.
DOCS_PATHS = ("/openapi.json", "/docs", OAUTH2_REDIRECT_PATH, "/redoc", ASSETS_PATH + "/{asset}")

_REDOC_DIR = files("fastapi_offline") / "static"
# A fixed list, so a request can name nothing else on disk.
_ASSETS: dict[str, tuple[Traversable, str]] = {
    "swagger-ui-bundle.js": (swagger_ui_path / "swagger-ui-bundle.js", "text/javascript"),
    "swagger-ui-standalone-preset.js": (
        swagger_ui_path / "swagger-ui-standalone-preset.js",
        "text/javascript",
    ),
    "swagger-ui.css": (swagger_ui_path / "swagger-ui.css", "text/css"),
    "favicon-32x32.png": (swagger_ui_path / "favicon-32x32.png", "image/png"),
    "redoc.standalone.js": (_REDOC_DIR / "redoc.standalone.js", "text/javascript"),
}
ASSET_NAMES = tuple(_ASSETS)
# ReDoc's sidebar shows its vendor's logo from a CDN, with no option to turn it off; an empty
# `src` loads nothing and the component hides the image when it fails.
_PATCHED: dict[str, tuple[tuple[bytes, bytes], ...]] = {
    "redoc.standalone.js": ((b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"', b'src:""'),),
}
_patched_cache: dict[str, bytes] = {}
# The files change only with a package upgrade, which restarts the service.
_CACHE = "public, max-age=3600"

# Should a bundle's code still ask for something from elsewhere, the browser refuses to load it.
# The pages' own start-up code is inline.
CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'unsafe-inline'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "font-src 'self' data:",
        "worker-src 'self' blob:",
        "connect-src 'self'",
        "frame-ancestors 'self'",
    )
)
DOCS_PAGE_HEADERS = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}

# Swagger UI's defaults would send the document to an online validator.
SWAGGER_UI_PARAMETERS: dict[str, Any] = {"persistAuthorization": True, "validatorUrl": None}


def asset_url(root_path: str, name: str) -> str:
    """The URL of one asset of the service mounted at `root_path` (`/auth`)."""
    if name not in _ASSETS:
        raise KeyError(name)
    return f"{root_path}{ASSETS_PATH}/{name}"


router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def swagger_ui(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}{OAUTH2_REDIRECT_PATH}",
        swagger_js_url=asset_url(root, "swagger-ui-bundle.js"),
        swagger_css_url=asset_url(root, "swagger-ui.css"),
        swagger_favicon_url=asset_url(root, "favicon-32x32.png"),
        swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
    )
    page.headers.update(DOCS_PAGE_HEADERS)
    return page


@router.get(OAUTH2_REDIRECT_PATH, response_class=HTMLResponse)
async def swagger_ui_oauth2_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    page = get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=asset_url(root, "redoc.standalone.js"),
        redoc_favicon_url=asset_url(root, "favicon-32x32.png"),
        with_google_fonts=False,
    )
    page.headers.update(DOCS_PAGE_HEADERS)
    return page


@router.get(ASSETS_PATH + "/{asset}")
async def docs_asset(asset: str) -> Response:
    found = _ASSETS.get(asset)
    if found is None:
        raise NotFoundError(f"No docs asset named {asset!r}.")
    source, media_type = found
    if asset in _PATCHED:
        return Response(
            await _patched(asset), media_type=media_type, headers={"Cache-Control": _CACHE}
        )
    # Installed wheels are plain directories, so the resource is a file on disk; FileResponse
    # reads it off the event loop and answers conditional requests with 304.
    return FileResponse(Path(str(source)), media_type=media_type, headers={"Cache-Control": _CACHE})


async def _patched(asset: str) -> bytes:
    if asset not in _patched_cache:
        source, _ = _ASSETS[asset]
        content = await asyncio.to_thread(source.read_bytes)
        for old, new in _PATCHED[asset]:
            content = content.replace(old, new)
        _patched_cache[asset] = content
    return _patched_cache[asset]
