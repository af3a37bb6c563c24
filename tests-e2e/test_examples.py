"""Every script in examples/ runs as the README prints it, and the README quotes it whole.

Each example runs as `python examples/NAME.py` from another directory than the repository's,
with the session mesh's gateway and admin password in the environment it documents.
"""

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from mesh.supervisor import Mesh
from testkit.gateway import Gateway

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parent.parent
EXAMPLES = sorted(path.stem for path in (REPO / "examples").glob("*.py"))
# What each example prints when it did its job.
EXPECTED = {
    "login_and_call": ["signed in as", "tasks the workers run:", "demo.add"],
    "upload_and_download": ["single upload and download", "multipart upload and download"],
    "schedule_and_watch": ["SUCCESS demo.add [20, 22] -> 42", "deleted"],
    "live_events": ["connected; events after", "STARTED demo.add", "SUCCESS demo.add 42"],
    "roles_and_grants": [
        "before the grant, GET /storage/files: 403",
        "after the grant, GET /storage/files: 200",
        "still refused, POST /rbac/roles: 403",
    ],
}


def test_every_example_has_its_expected_output_listed() -> None:
    assert sorted(EXPECTED) == EXAMPLES


@pytest.mark.parametrize("name", EXAMPLES)
def test_the_readme_quotes_each_example_verbatim(name: str) -> None:
    readme = (REPO / "README.md").read_text()
    quoted = re.search(
        rf"<!-- example:{name} -->\n```python\n(.*?)```\n<!-- /example:{name} -->", readme, re.S
    )
    assert quoted is not None, f"README.md has no quoted examples/{name}.py"
    assert quoted.group(1) == (REPO / "examples" / f"{name}.py").read_text()
    assert f"uv run python examples/{name}.py" in readme


@pytest.mark.parametrize("name", EXAMPLES)
async def test_each_example_runs_against_the_mesh(mesh: Gateway, name: str, tmp_path: Path) -> None:
    env = {
        **os.environ,
        "MESH_URL": mesh.url,
        "ADMIN_USERNAME": mesh.admin_username,
        "ADMIN_PASSWORD": mesh.admin_password,
    }
    if isinstance(mesh, Mesh) and mesh.state.admin_password_file.exists():
        # The password as `make up` leaves it: in the state dir, not the environment.
        del env["ADMIN_PASSWORD"]
        env["MESH_STATE_DIR"] = str(mesh.state.root)
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(REPO / "examples" / f"{name}.py")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for expected in EXPECTED[name]:
        assert expected in done.stdout, done.stdout
