"""The README's table of demo tasks names exactly the demo tasks a worker registers."""

import re
from pathlib import Path

from tasks.tasks_api import TypedTask
from worker import demo

README = Path(__file__).resolve().parents[3] / "README.md"


def test_the_readme_documents_every_demo_task_and_no_other() -> None:
    text = README.read_text()
    table = text.split("<!-- demo-tasks -->", 1)[1].split("<!-- /demo-tasks -->", 1)[0]
    documented = set(re.findall(r"^\| `(demo\.[a-z_]+)` \|", table, flags=re.MULTILINE))
    registered = {value.name for value in vars(demo).values() if isinstance(value, TypedTask)}

    assert registered
    assert documented == registered
