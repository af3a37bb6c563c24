"""RBAC service: route registry, roles, permission cache and the gateway decision.

Registry (push). Every service built with `common.app.create_app` publishes its route manifest
(from its own OpenAPI: method, path template, access level, permission code) to Redis under
`rbac:manifest:{service}` at start-up and announces the service on `rbac:manifests`. rbac reads
every stored manifest when its pub/sub connection comes up, applies each announced one, and keeps
the registry in SQL (`rbac_routes`, `rbac_services` with the applied digest). A route missing from
a newer manifest of its service is marked `stale`: still listed (`?include_stale=true`), never
matched or granted. rbac registers its own routes from its OpenAPI at start-up without Redis.
The docs (`common.docs_pages.DOCS_PATHS`: `/docs`, `/redoc`, their assets, `/openapi.json`) are
added to every service as public routes (they are served outside the OpenAPI document).

Roles and bindings live in SQL (Alembic: `python -m rbac.migrations`, `RBAC_DATABASE_URL`). A
role grants exact permission codes `{service}:{METHOD}:{path}` or `*` patterns (`rbac.patterns`).

Decision (`/authorize`, bare ASGI answered by `rbac.app.RbacApi`, rbac's FastAPI app, before
FastAPI's per-request layers; not in the OpenAPI and so never in the registry). It reads
`X-Forwarded-Method`, `X-Forwarded-Uri` and `Authorization`, decodes the path once as the service
will (`rbac.forwarded_path`: dot or empty segments and control characters are refused), takes the
first segment as the service and matches the rest against that service's templates, most specific
first (`rbac.route_table`). Public → 200 with empty identity headers; otherwise the JWT is verified
(`common.tokens`), revocation and disabled users checked, and authenticated routes, admins, or users
whose grants cover the route's code get 200 with `X-User-Id`, `X-User-Name` (percent-encoded when
not printable ASCII), `X-User-Admin`, `X-Session-Id`. Missing/invalid/revoked token → 401 +
`WWW-Authenticate: Bearer`; missing permission, unregistered route or garbled forwarded headers →
403; anything that cannot be known right now → 503. Never allow on uncertainty.

Caches (`rbac.decision`). Route table, per-user grants, verified tokens and "this token is not
revoked" verdicts live in process, and allow decisions are remembered for 5 s per (Authorization,
method, URI) tagged with the generation of those inputs; a warm decision makes no SQL query and no
Redis round trip. One
pub/sub connection listens to `rbac:manifests`, `rbac:changes` (published by rbac after every
committed role, binding or registry change), `auth:revocations` and `auth:users`, and invalidates
at once; entries also expire after `RBAC_CACHE_TTL_SECONDS` (default 30). When that connection
is down or silent past `RBAC_LISTENER_HEARTBEAT_SECONDS` (default 2) the caches are switched off:
each decision asks Redis (revocation) and SQL (grants) directly, and denies with 503 when Redis
cannot answer.
"""
