"""Every benchmark still measures and writes its section: each runs at tiny sizes (`--smoke`)
into a copy of the README. The figures of such a run mean nothing and are not checked; what
would fail is a benchmark that no longer starts its processes, measures or reports."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.__main__ import BENCHMARKS, README

ROOT = README.parent


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", BENCHMARKS)
def test_each_benchmark_measures_and_writes_its_section(name: str, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    shutil.copy(README, readme)
    real_readme = README.read_text()

    done = subprocess.run(  # noqa: S603 - this interpreter, fixed arguments
        [sys.executable, "-m", "bench", name, "--smoke", "--readme", str(readme)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )

    assert done.returncode == 0, done.stderr[-4000:]
    section = re.search(
        rf"<!-- bench:{name} -->\n(.*?)\n<!-- /bench:{name} -->", readme.read_text(), re.DOTALL
    )
    assert section is not None
    assert section.group(1) in done.stdout
    assert "|---" in section.group(1)
    assert README.read_text() == real_readme


def test_a_smoke_run_refuses_to_write_the_real_readme() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "storage_presign", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "--readme" in done.stderr
