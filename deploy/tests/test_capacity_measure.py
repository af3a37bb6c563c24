"""deploy/capacity/measure.py still imports, and its /proc readings count what they claim: a
process's CPU time with its children's (Celery's pool), and peak memory. (The measurement
itself starts a whole mesh; `make test` does not run it.)"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "capacity" / "measure.py"
# A child that spends at least this much CPU time (measured by itself), then waits for stdin.
BURN = """
import os, sys
while sum(os.times()[:2]) < {seconds}:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""


@pytest.fixture(scope="module")
def measure() -> ModuleType:
    spec = importlib.util.spec_from_file_location("capacity_measure", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_process_cpu_counts_its_live_children(measure: ModuleType) -> None:
    parent = subprocess.Popen(  # noqa: S603 - our own interpreter and code
        [sys.executable, "-c", BURN.format(seconds=0.3)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "burnt"

        with_children = measure.cpu_seconds(os.getpid())
        own = sum(os.times()[:2])  # this process alone (its child is not reaped yet)

        # At least the child's 0.3 s, less two clock ticks of rounding.
        assert with_children - own >= 0.28
        assert measure.cpu_seconds(parent.pid) >= 0.28
        assert parent.pid in measure._descendants(os.getpid())
    finally:
        parent.communicate("")


def test_peak_memory_is_read_in_mib(measure: ModuleType) -> None:
    assert 10 < measure.peak_rss_mib(os.getpid()) < 24 * 1024
