"""One Swagger UI over every service's OpenAPI, served by rbac at `/portal` (the gateway's `/docs`).

Each service publishes its document at `/{service}/openapi.json` through the gateway; the page
only lists those URLs, so it needs no access to the services themselves.
"""

import html
import json

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from common.access import Access, access

SERVICES = ("auth", "rbac", "storage", "scheduler")
SWAGGER_UI_VERSION = "5"
_CDN = f"https://cdn.jsdelivr.net/npm/swagger-ui-dist@{SWAGGER_UI_VERSION}"


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
            "persistAuthorization": True,
        }
    ).replace("</", "<\\/")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{html.escape(title)}</title>
<link rel="stylesheet" href="{_CDN}/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{_CDN}/swagger-ui-bundle.js"></script>
<script src="{_CDN}/swagger-ui-standalone-preset.js"></script>
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
    return HTMLResponse(portal_html())
