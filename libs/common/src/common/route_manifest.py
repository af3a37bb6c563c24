"""Each service tells the rbac registry which routes it serves, at every start-up.

The manifest is built from the service's own OpenAPI (`x-access`, `x-permission`), stored in
Redis under `rbac:manifest:{service}` and announced on `rbac:manifests`, so a new route appears
in the registry as soon as its service restarts, with no change to rbac.
"""

import hashlib
import json
import logging
import time
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel
from redis.asyncio import Redis
from redis.exceptions import RedisError

from common.access import ACCESS_KEY, PERMISSION_KEY, Access, permission_code

MANIFEST_CHANNEL = "rbac:manifests"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")

logger = logging.getLogger("common.route_manifest")


def manifest_key(service: str) -> str:
    return f"rbac:manifest:{service}"


class RouteEntry(BaseModel):
    service: str
    method: str
    path: str
    permission: str
    access: Access
    summary: str = ""


class RouteManifest(BaseModel):
    service: str
    routes: list[RouteEntry]
    digest: str
    published_at: float


def build_manifest(service: str, openapi: dict[str, Any]) -> RouteManifest:
    """Every operation of the OpenAPI document, with its access level and permission code."""
    routes: list[RouteEntry] = []
    for path, item in sorted(openapi.get("paths", {}).items()):
        for method in HTTP_METHODS:
            operation = item.get(method)
            if not isinstance(operation, dict):
                continue
            routes.append(
                RouteEntry(
                    service=service,
                    method=method.upper(),
                    path=path,
                    permission=operation.get(PERMISSION_KEY)
                    or permission_code(service, method, path),
                    access=Access(operation.get(ACCESS_KEY, Access.PERMISSION.value)),
                    summary=operation.get("summary", ""),
                )
            )
    body = json.dumps([r.model_dump(mode="json") for r in routes], sort_keys=True)
    return RouteManifest(
        service=service,
        routes=routes,
        digest=hashlib.sha256(body.encode()).hexdigest(),
        published_at=time.time(),
    )


async def publish_manifest(redis: "Redis", manifest: RouteManifest) -> None:
    await redis.set(manifest_key(manifest.service), manifest.model_dump_json())
    await redis.publish(MANIFEST_CHANNEL, manifest.service)


async def publish_app_routes(app: FastAPI, redis: "Redis") -> None:
    """Publish `app`'s routes; a Redis failure is logged, never fatal to start-up."""
    manifest = build_manifest(app.state.service_name, app.openapi())
    try:
        await publish_manifest(redis, manifest)
    except (RedisError, OSError) as exc:
        logger.error("could not publish the route manifest: %s", type(exc).__name__)
        return
    logger.info("route manifest published", extra={"routes": len(manifest.routes)})
