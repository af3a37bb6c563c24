"""Real worker and beat processes for tests and benchmarks, always stopped afterwards.

with celery_process(worker_command("w1"), env, tmp_path / "worker.log") as worker:
    ...
"""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from redis import Redis as SyncRedis

from tasks.catalog import CATALOG_PREFIX

# Our processes read these; the caller's environment must not leak into a test.
_OWN_PREFIXES = ("CELERY_", "SCHEDULER_", "WORKER_", "REDIS_URL", "MONGO_URL")


def process_env(**values: str) -> dict[str, str]:
    """The current environment without our settings, plus `values` (upper-cased names)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_OWN_PREFIXES)}
    env.update({"ENVIRONMENT": "test", "LOG_JSON": "false", "PYTHONUNBUFFERED": "1"})
    env.update({k.upper(): v for k, v in values.items()})
    return env


def worker_command(name: str, *, concurrency: int = 4) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        str(concurrency),
        "--hostname",
        f"{name}@%h",
        "--without-gossip",
        "--without-mingle",
        "--loglevel",
        "INFO",
    ]


def beat_command(workdir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "worker.app",
        "beat",
        "--scheduler",
        "scheduler.beat:DatabaseScheduler",
        "--pidfile",
        "",
        "--schedule",
        str(workdir / "celerybeat-schedule"),
        "--loglevel",
        "INFO",
    ]


@contextmanager
def celery_process(
    command: list[str], env: Mapping[str, str], log_path: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `command`, logging to `log_path`; stopped (SIGTERM, then SIGKILL) when the block ends."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        proc = subprocess.Popen(  # noqa: S603 - our own command lines
            command, env=dict(env), stdout=log, stderr=subprocess.STDOUT, cwd=log_path.parent
        )
        try:
            yield proc
        finally:
            stop_process(proc)


def stop_process(proc: "subprocess.Popen[bytes]", *, kill: bool = False) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def wait_for_workers(redis_url: str, count: int = 1, timeout: float = 60.0) -> None:
    """Block until `count` workers have published their task catalog."""
    redis = SyncRedis.from_url(redis_url, decode_responses=True)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if len(list(redis.scan_iter(match=f"{CATALOG_PREFIX}*"))) >= count:
                return
            time.sleep(0.2)
    finally:
        redis.close()
    raise TimeoutError(f"{count} worker(s) did not publish a catalog within {timeout}s")
