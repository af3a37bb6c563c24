"""One Swagger UI over every service's OpenAPI, served by rbac at `/portal` (the gateway's `/docs`).

Each service publishes its document at `/{service}/openapi.json` through the gateway; the page
only lists those URLs, so it needs no access to the services themselves. Its scripts are the ones
rbac serves for its own docs (`/rbac/docs/assets/...`, public through the gateway), so the page
loads nothing from outside the mesh.
"""

import html
import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from common.access import Access, access
from common.docs_pages import DOCS_PAGE_HEADERS, SWAGGER_UI_PARAMETERS, asset_url

SERVICES = ("auth", "rbac", "storage", "scheduler")
# The service whose `/docs/assets/` the portal's page loads its scripts from: rbac serves the page.
ASSETS_ROOT = "/rbac"


def portal_html(services: tuple[str, ...] = SERVICES, title: str = "API documentation") -> str:
    """The page: Swagger UI's standalone layout with a selector over `/{service}/openapi.json`."""
    urls = [{"url": f"/{name}/openapi.json", "name": name} for name in services]
    # "</" inside a <script> block would end it early; JSON allows escaping the slash.
    config = json.dumps(
        {
            "urls": urls,
            "urls.primaryName": services[0] if services else "",
            "dom_id": "#swagger-ui",
            "deepLinking": True,
            **SWAGGER_UI_PARAMETERS,
        }
    ).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{asset_url(ASSETS_ROOT, "swagger-ui.css")}">
<link rel="icon" href="{asset_url(ASSETS_ROOT, "favicon-32x32.png")}">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{asset_url(ASSETS_ROOT, "swagger-ui-bundle.js")}"></script>
<script src="{asset_url(ASSETS_ROOT, "swagger-ui-standalone-preset.js")}"></script>
<script>
const config = {config};
window.ui = SwaggerUIBundle(Object.assign(config, {{
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
  layout: "StandaloneLayout"
}}));
</script>
</body>
</html>
"""


router = APIRouter()


@router.get(
    "/portal",
    include_in_schema=False,
    openapi_extra=access(Access.PUBLIC),
    response_class=HTMLResponse,
)
async def docs_portal() -> HTMLResponse:
    return HTMLResponse(portal_html(), headers=DOCS_PAGE_HEADERS)
