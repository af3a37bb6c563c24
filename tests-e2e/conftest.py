"""The `mesh` every end-to-end test talks to, through its gateway URL only.

By default a whole local mesh is started once per session on a free port in a temp state dir,
through the same code as `mesh up --detach`; with `MESH_REPLICAS` set (`2`, or `auth=3`, as
`mesh up --replicas` takes it) it runs several instances of the services (`make test-replicas`).
With `MESH_URL` set, the tests target that deployed mesh instead (compose, staging); its admin
comes from `MESH_ADMIN_USERNAME` (default `admin`) and `MESH_ADMIN_PASSWORD`.

Clients of the gateway: `http` (no token), `admin` (the admin's token) and `accounts` (fresh users
and roles, deleted after the test). They wait `http_timeout` seconds for an answer, which a
module may override. `browser`: Debian's Chromium, headless, driven by Playwright (the system
browser, installed by `make browser`; Playwright downloads none of its own), one per module.
"""

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, async_playwright

from mesh.supervisor import Mesh
from mesh.testing import running_mesh
from mesh.topology import parse_replicas
from testkit.accounts import Accounts, signed_in

CHROMIUM = "/usr/bin/chromium"
# No sandbox: CI runs as root. The rest keeps Chromium from calling home on its own.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@dataclass(frozen=True)
class DeployedMesh:
    """A mesh someone else runs: only its gateway is known."""

    url: str
    admin_username: str
    admin_password: str
    state_dir: Path | None = None

    def service_url(self, name: str) -> str:
        raise LookupError(f"the services of a deployed mesh ({self.url}) are not reachable")


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh | DeployedMesh]:
    deployed = os.environ.get("MESH_URL")
    if deployed:
        password = os.environ.get("MESH_ADMIN_PASSWORD")
        if not password:
            raise pytest.UsageError("MESH_URL is set: MESH_ADMIN_PASSWORD must be set too")
        yield DeployedMesh(
            url=deployed.rstrip("/"),
            admin_username=os.environ.get("MESH_ADMIN_USERNAME", "admin"),
            admin_password=password,
        )
        return
    replicas = parse_replicas(
        [os.environ["MESH_REPLICAS"]] if "MESH_REPLICAS" in os.environ else []
    )
    with running_mesh(tmp_path_factory.mktemp("mesh"), replicas=replicas) as local:
        yield local


@pytest.fixture
def http_timeout() -> float:
    return 15


@pytest.fixture
async def http(mesh: Mesh | DeployedMesh, http_timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=mesh.url, timeout=http_timeout) as client:
        yield client


@pytest.fixture
async def admin(mesh: Mesh | DeployedMesh, http_timeout: float) -> AsyncIterator[httpx.AsyncClient]:
    async with signed_in(
        mesh.url, mesh.admin_username, mesh.admin_password, timeout=http_timeout
    ) as client:
        yield client


@pytest.fixture
async def accounts(admin: httpx.AsyncClient) -> AsyncIterator[Accounts]:
    made = Accounts(admin)
    yield made
    await made.aclose()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
