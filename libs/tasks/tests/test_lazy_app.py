"""The SDK reads no settings and builds no Celery app until a task is used: a module defining
tasks imports in any environment, even one the settings refuse. Run in fresh interpreters, with
nothing of this process's environment."""

import subprocess
import sys

import pytest

pytestmark = pytest.mark.process

# A value the settings refuse: a process that reads them stops, naming it.
REFUSED = {"ENVIRONMENT": "not-an-environment"}

DEFINE = """
from tasks.tasks_api import task

@task("sdk_test.lazy.add")
def add(x: int, y: int) -> int:
    return x + y
"""


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )


def test_the_sdk_and_a_task_module_import_where_the_settings_would_be_refused() -> None:
    code = (
        "import tasks, tasks.async_task, tasks.catalog, tasks.celery_app, tasks.event_loop\n"
        "import tasks.lost_runs, tasks.queued_at, tasks.run_events, tasks.run_history\n"
        "import tasks.runs, tasks.settings\n"
        f"{DEFINE}\n"
        "print(add.name, add.__doc__)\n"
    )
    done = _python(code, REFUSED)

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["sdk_test.lazy.add", "None"]


def test_the_first_use_builds_the_app_from_the_settings_with_the_tasks_defined_before() -> None:
    code = f"{DEFINE}\nprint(add(2, 3))\n"

    used = _python(code, {})
    refused = _python(code, REFUSED)

    assert used.returncode == 0, used.stderr
    assert used.stdout.strip() == "5"
    assert refused.returncode != 0
    assert "invalid setting ENVIRONMENT" in refused.stderr


def test_a_task_defined_after_the_app_exists_is_registered_at_once() -> None:
    code = (
        "from tasks.celery_app import process_app\n"
        "app = process_app()\n"
        f"{DEFINE}\n"
        "print(app.tasks['sdk_test.lazy.add'] is add.celery_task, add(4, 5))\n"
    )
    done = _python(code, {})

    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "9"]
