"""Every service's OpenAPI, fuzzed through the gateway by schemathesis with every check.

For each service, once with an admin's token and once with a user's who holds no role:
generated requests (valid and invalid), the coverage phase's boundary values and stateful
sequences, with a fixed seed and a bounded number of examples per operation. Any 5xx, any answer
its OpenAPI does not describe, any schema-invalid request accepted or schema-valid request
refused fails the test. `schemathesis.toml` beside this file lists the operations left out and
the few whose valid requests may meet a rule no schema can state, each with its reason.

The run uses users of its own and removes, afterwards, the users, roles, periodic tasks and
files that did not exist before it.
"""

import asyncio
import os
import secrets
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from testkit.auth_client import login

pytestmark = pytest.mark.e2e

SERVICES = ("auth", "rbac", "storage", "scheduler")
CONFIG = Path(__file__).with_name("schemathesis.toml")
SEED = 20261130
EXAMPLES_PER_OPERATION = 5
# What the run creates, listed before and after it: (list path, id field, delete path template).
CREATED = (
    ("/auth/users", "id", "/auth/users/{}"),
    ("/rbac/roles", "code", "/rbac/roles/{}?force=true"),
    ("/scheduler/periodic-tasks", "id", "/scheduler/periodic-tasks/{}"),
    ("/storage/files", "id", "/storage/files/{}"),
)


@pytest.fixture
def http_timeout() -> float:
    return 30


@dataclass(frozen=True)
class Fuzzer:
    who: str
    authorization: str


async def _ids(admin: httpx.AsyncClient, path: str, field: str) -> set[str]:
    found: set[str] = set()
    while True:
        response = await admin.get(path, params={"limit": 200, "offset": len(found)})
        assert response.status_code == 200, response.text
        page = response.json()
        found.update(str(item[field]) for item in page["items"])
        if not page["items"] or len(found) >= page["total"]:
            return found


async def _fuzzer(admin: httpx.AsyncClient, who: str, *, is_admin: bool) -> Fuzzer:
    username = f"fuzz-{who}-{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(24)
    body = {"username": username, "password": password, "is_admin": is_admin}
    created = await admin.post("/auth/users", json=body)
    assert created.status_code == 201, created.text
    pair = await login(admin, username, password)
    return Fuzzer(who, f"Bearer {pair.access_token}")


@pytest.fixture
async def left_as_found(admin: httpx.AsyncClient) -> AsyncIterator[None]:
    """Whatever the run creates (its own users included) is deleted after it."""
    before = {path: await _ids(admin, path, field) for path, field, _ in CREATED}
    yield
    for path, field, delete in CREATED:
        for made in await _ids(admin, path, field) - before[path]:
            response = await admin.delete(delete.format(made))
            assert response.status_code in (204, 404), response.text


async def _targets(admin: httpx.AsyncClient) -> dict[str, str]:
    """A user and a periodic task for the operations that change or delete one by id."""
    user = await admin.post(
        "/auth/users",
        json={"username": f"fuzz-target-{secrets.token_hex(4)}", "password": secrets.token_hex()},
    )
    assert user.status_code == 201, user.text
    task = await admin.post(
        "/scheduler/periodic-tasks",
        json={
            "name": f"fuzz-target-{secrets.token_hex(4)}",
            "task": "demo.add",
            "args": [1, 2],
            "schedule": {"type": "interval", "every": 1, "period": "days"},
            "enabled": False,
        },
    )
    assert task.status_code == 201, task.text
    return {"FUZZ_TARGET_USER": user.json()["id"], "FUZZ_TARGET_TASK": task.json()["id"]}


def _schemathesis(
    url: str, fuzzer: Fuzzer, targets: dict[str, str], workdir: Path
) -> subprocess.CompletedProcess[str]:
    command = [
        str(Path(sys.executable).with_name("schemathesis")),
        "--config-file",
        str(CONFIG),
        "run",
        url,
        "--checks",
        "all",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES_PER_OPERATION),
        "--header",
        f"Authorization: {fuzzer.authorization}",
        "--request-timeout",
        "30",
        "--generation-database",
        "none",
        "--no-color",
    ]
    return subprocess.run(  # noqa: S603 - our own command line, no shell
        command,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **targets},
        # It keeps a cache of crashes it found in the working directory: not in the repository.
        cwd=workdir,
    )


@pytest.mark.usefixtures("left_as_found")
async def test_every_service_answers_fuzzed_requests_as_its_openapi_says(
    admin: httpx.AsyncClient, tmp_path: Path
) -> None:
    fuzzers = [
        await _fuzzer(admin, "admin", is_admin=True),
        await _fuzzer(admin, "user", is_admin=False),
    ]
    targets = await _targets(admin)
    failed: list[str] = []
    for service in SERVICES:
        for fuzzer in fuzzers:
            url = f"{str(admin.base_url).rstrip('/')}/{service}/openapi.json"
            run = await asyncio.to_thread(_schemathesis, url, fuzzer, targets, tmp_path)
            if run.returncode != 0:
                failed.append(f"----- {service} as {fuzzer.who}\n{run.stdout}{run.stderr}")
            # A run whose token was revoked on the way would pass on 401s alone.
            me = await admin.get("/auth/me", headers={"Authorization": fuzzer.authorization})
            assert me.status_code == 200, f"{service} as {fuzzer.who} lost its session"
    assert not failed, "\n".join(failed)
