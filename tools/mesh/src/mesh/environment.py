"""The environment every mesh process gets (docs/processes.md), and which servers are external.

A variable the user sets wins over the mesh's value, except the addresses of the processes the
mesh itself runs. Setting a server's URL (REDIS_URL, MONGO_URL, S3_ENDPOINT) means that server
is not started.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from mesh.mongo import mongo_url
from mesh.net import LOOPBACK
from mesh.seaweed import S3_REGION
from mesh.state import StateDir
from mesh.valkey import valkey_url

API_SERVICES = ("auth", "rbac", "storage", "scheduler")
SQL_SERVICES = ("auth", "rbac", "scheduler")
# Which embedded server each URL replaces.
EXTERNAL_URLS = {"valkey": "REDIS_URL", "mongo": "MONGO_URL", "s3": "S3_ENDPOINT"}
DEFAULT_ADMIN_USERNAME = "admin"


@dataclass(frozen=True)
class MeshEnvironment:
    env: dict[str, str]
    external: frozenset[str]  # embedded servers replaced by a URL from the environment

    def service_url(self, name: str) -> str:
        return self.env[f"{name.upper()}_URL"]


def build_environment(
    state: StateDir,
    ports: Mapping[str, int],
    s3_port: int,
    environ: Mapping[str, str],
    replicas: Mapping[str, list[str]] | None = None,
) -> MeshEnvironment:
    """`replicas`: the instances' names (and so port names) per API service, when several."""
    defaults: dict[str, str] = {
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "INFO",
        "LOG_JSON": "true",
        "REDIS_URL": valkey_url(ports["valkey"]),
        "MONGO_URL": mongo_url(ports["mongo"]),
        "S3_ENDPOINT": f"http://{LOOPBACK}:{s3_port}",
        "S3_ACCESS_KEY": f"mesh{state.secret('s3_access_key', 8)}",
        "S3_SECRET_KEY": state.secret("s3_secret_key"),
        "S3_REGION": S3_REGION,
        "ADMIN_USERNAME": DEFAULT_ADMIN_USERNAME,
        "AUTH_STATE_DIR": str(state.data / "auth"),
    }
    for name in SQL_SERVICES:
        path = state.data / f"{name}.sqlite3"
        defaults[f"{name.upper()}_DATABASE_URL"] = f"sqlite+aiosqlite:///{path}"
    env = {**defaults, **{k: v for k, v in environ.items() if k in defaults}}
    if "S3_PUBLIC_ENDPOINT" not in environ:
        env["S3_PUBLIC_ENDPOINT"] = env["S3_ENDPOINT"]
    owned = {f"{name.upper()}_URL": f"http://{LOOPBACK}:{ports[name]}" for name in API_SERVICES}
    for name in API_SERVICES:
        instances = (replicas or {}).get(name) or [name]
        owned[f"{name.upper()}_URLS"] = ",".join(
            f"http://{LOOPBACK}:{ports[instance]}" for instance in instances
        )
    owned["AUTH_JWKS_URL"] = f"{owned['AUTH_URL']}/.well-known/jwks.json"
    owned["PYTHONUNBUFFERED"] = "1"
    external = frozenset(server for server, var in EXTERNAL_URLS.items() if environ.get(var))
    # The admin password reaches the seed only (topology adds it there).
    passed = {k: v for k, v in environ.items() if k != "ADMIN_PASSWORD"}
    return MeshEnvironment({**passed, **env, **owned}, external)
