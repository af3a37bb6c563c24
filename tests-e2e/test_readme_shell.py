"""The README's shell lines run as printed against the mesh, and answer what the README says.

Each `<!-- shell:NAME -->` block of README.md runs whole in bash, from the repository, with the
system's `curl` and `uv run mesh token` as a user has them. The one change: the README's gateway,
`http://127.0.0.1:8000`, becomes the session mesh's. `mesh token` finds that mesh as after
`make up`: in its state dir (`MESH_STATE_DIR`), or for a deployed mesh in `MESH_URL` and
`ADMIN_PASSWORD`.
"""

import asyncio
import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

from mesh.supervisor import Mesh
from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
README_GATEWAY = "http://127.0.0.1:8000"
BLOCKS = ["using-it", "demo-tasks"]


def shell_block(name: str) -> str:
    readme = (REPO / "README.md").read_text()
    quoted = re.search(
        rf"<!-- shell:{name} -->\n```bash\n(.*?)```\n<!-- /shell:{name} -->", readme, re.S
    )
    assert quoted is not None, f"README.md has no <!-- shell:{name} --> block"
    return quoted.group(1)


def test_the_readme_marks_every_shell_block_this_suite_runs() -> None:
    readme = (REPO / "README.md").read_text()
    assert sorted(re.findall(r"<!-- shell:([\w-]+) -->", readme)) == sorted(BLOCKS)
    for name in BLOCKS:
        assert README_GATEWAY in shell_block(name)


async def run_as_printed(mesh: Gateway, name: str) -> str:
    """The block's stdout; fails with its output if bash exits non-zero."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("ADMIN_PASSWORD", "ADMIN_USERNAME", "MESH_STATE_DIR", "MESH_URL")
    }
    env["ADMIN_USERNAME"] = mesh.admin_username
    if isinstance(mesh, Mesh) and mesh.state.admin_password_file.exists():
        env["MESH_STATE_DIR"] = str(mesh.state.root)  # the password and URL `make up` left
    else:
        env["MESH_URL"] = mesh.url
        env["ADMIN_PASSWORD"] = mesh.admin_password
    script = "set -euo pipefail\n" + shell_block(name).replace(README_GATEWAY, mesh.url)
    done = await asyncio.to_thread(
        subprocess.run,
        ["bash", "-c", script],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


async def test_curl_with_mesh_token_shows_who_is_signed_in(mesh: Gateway) -> None:
    out = await run_as_printed(mesh, "using-it")

    assert json.loads(out)["username"] == mesh.admin_username


async def test_the_demo_task_lines_schedule_run_and_delete_demo_add(
    mesh: Gateway, admin: httpx.AsyncClient
) -> None:
    try:
        out = await run_as_printed(mesh, "demo-tasks")
    finally:
        leftovers = await admin.get("/scheduler/periodic-tasks", params={"limit": 200})
        left = [t for t in leftovers.json()["items"] if t["name"] == "add-every-10s"]
        for task in left:  # a failed run must not leave the name taken for the next
            await admin.delete(f"/scheduler/periodic-tasks/{task['id']}")

    decoder = json.JSONDecoder()
    answers, at = [], 0
    while at < len(out):  # each curl printed one JSON document; DELETE prints nothing
        answer, at = decoder.raw_decode(out, at)
        answers.append(answer)
    tasks, ran_now, runs = answers
    assert {"demo.add", "demo.sleep"} <= {t["name"] for t in tasks}
    assert next(t for t in tasks if t["name"] == "demo.add")["description"] == "Add two numbers."
    assert ran_now["task_id"]
    finished = [run for run in runs["items"] if run["state"] == "SUCCESS"]
    assert finished
    assert all(run["args"] == [20, 22] and run["result"] == 42 for run in finished)
    assert left == []  # the block's DELETE removed it
