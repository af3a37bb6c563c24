"""Per-request CPU of each process, and each process's memory, on a local mesh: the figures
docs/scaling.md sizes replicas and resource requests with.

    uv run python deploy/capacity/measure.py [--seconds 8] [--logins 60] [--presigns 300]
                                             [--tasks 300]

It starts a whole mesh in a temp dir (embedded Valkey, the mongoeco wire server, SeaweedFS,
SQLite) and drives it through the gateway, one phase at a time:
- logins: the whole client flow (`GET /auth/keys/public`, RSA-OAEP in the client,
  `POST /auth/login`), 4 at a time;
- the first request of each token the logins issued (`GET /auth/me`, 4 at a time): rbac's
  decision cold (JWT verified, revocation looked up);
- authenticated requests: `GET /auth/me` of a non-admin user with wrk (16 connections), so each
  request is Traefik + forwardAuth to rbac `/authorize` (a warm decision) + auth answering from
  SQL;
- presigns: `POST /storage/uploads` of that user (a role grants `storage:*`), 8 at a time;
- worker tasks: `demo.add` sent straight to the broker, the worker's run history on.
For each phase it reads every process's CPU time (user + system, its children included) from
/proc before and after, and divides by the requests served: CPU per request is what adds up
across replicas, while requests/s on a 2-core machine shared with the load generator and other
jobs is not. Last, each process's peak resident memory (VmHWM). It prints a Markdown table and
keeps nothing. It is a measurement, not a test: `make test` does not run it.
"""

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
from celery import Celery

from mesh.supervisor import Mesh
from mesh.testing import running_mesh
from testkit.auth_client import login

TICKS = os.sysconf("SC_CLK_TCK")
PROCESSES = ("traefik", "auth", "rbac", "storage", "scheduler", "worker", "beat", "valkey", "mongo")


def _descendants(pid: int) -> list[int]:
    found, queue = [], [pid]
    while queue:
        current = queue.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                queue += [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (Celery's pool processes)."""
    total = 0
    for each in _descendants(pid):
        try:
            fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICKS


def peak_rss_mib(pid: int) -> float:
    total = 0
    for each in _descendants(pid):
        try:
            status = Path(f"/proc/{each}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                total += int(line.split()[1])
    return total / 1024


class Meter:
    def __init__(self, mesh: Mesh) -> None:
        self.pids = {p.name: p.pid for p in mesh.processes if p.name in PROCESSES}

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    async def measure(
        self, run: Callable[[], Awaitable[int]]
    ) -> tuple[int, float, dict[str, float]]:
        """(requests served, wall seconds, CPU ms per request of each process)."""
        before, started = self.snapshot(), time.perf_counter()
        served = await run()
        wall, after = time.perf_counter() - started, self.snapshot()
        per_request = {n: (after[n] - before[n]) * 1000 / max(served, 1) for n in before}
        return served, wall, per_request


async def _bounded(count: int, concurrency: int, one: Callable[[], Awaitable[None]]) -> int:
    remaining = count

    async def lane() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await one()

    await asyncio.gather(*(lane() for _ in range(concurrency)))
    return count


async def prepare_user(http: httpx.AsyncClient, mesh: Mesh) -> str:
    """A non-admin user whose role grants storage:*; its access token."""
    admin = await login(http, mesh.admin_username, mesh.admin_password)
    headers = {"Authorization": f"Bearer {admin.access_token}"}
    password = "capacity-Measure-1"  # noqa: S105 - a throwaway user of a throwaway mesh
    user = await http.post(
        "/auth/users",
        headers=headers,
        json={"username": "capacity", "password": password, "name": "C", "email": "c@x.org"},
    )
    user.raise_for_status()
    role = {"code": "uploader", "name": "Uploader", "permissions": ["storage:*"]}
    (await http.post("/rbac/roles", headers=headers, json=role)).raise_for_status()
    grant = await http.put(
        f"/rbac/users/{user.json()['id']}/roles", headers=headers, json={"roles": ["uploader"]}
    )
    grant.raise_for_status()
    await asyncio.sleep(1.5)  # the grant reaches rbac's cache within 1 s
    return (await login(http, "capacity", password)).access_token


def wrk_requests(url: str, token: str, seconds: int) -> int:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is missing: apt-get install -y wrk (make wrk)")
    argv = [wrk, "-t1", "-c16", f"-d{seconds}s", "-H", f"Authorization: Bearer {token}", url]
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603
    if "Non-2xx" in output:
        raise SystemExit(f"wrk saw failed requests:\n{output}")
    line = next(line for line in output.splitlines() if "requests in" in line)
    return int(line.split()[0])


async def measure(args: argparse.Namespace) -> str:
    rows: list[tuple[str, int, float, dict[str, float]]] = []
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp, running_mesh(Path(tmp), timeout=300) as mesh:
        meter = Meter(mesh)
        async with httpx.AsyncClient(base_url=mesh.url, timeout=60) as http:
            token = await prepare_user(http, mesh)
            bearer = {"Authorization": f"Bearer {token}"}

            fresh_tokens: list[str] = []

            async def one_login() -> None:
                pair = await login(http, "capacity", "capacity-Measure-1")
                fresh_tokens.append(pair.access_token)

            rows.append(
                ("login", *await meter.measure(lambda: _bounded(args.logins, 4, one_login)))
            )

            async def first_use() -> None:
                headers = {"Authorization": f"Bearer {fresh_tokens.pop()}"}
                (await http.get("/auth/me", headers=headers)).raise_for_status()

            logins = len(fresh_tokens)
            rows.append(
                (
                    "first request of a token, GET /auth/me",
                    *await meter.measure(lambda: _bounded(logins, 4, first_use)),
                )
            )

            async def authenticated() -> int:
                url = f"{mesh.url}/auth/me"
                return await asyncio.to_thread(wrk_requests, url, token, args.seconds)

            rows.append(("authenticated GET /auth/me", *await meter.measure(authenticated)))

            async def one_presign() -> None:
                body = {"filename": "a.txt", "content_type": "text/plain", "size": 10}
                response = await http.post("/storage/uploads", headers=bearer, json=body)
                response.raise_for_status()

            rows.append(
                (
                    "presign POST /storage/uploads",
                    *await meter.measure(lambda: _bounded(args.presigns, 8, one_presign)),
                )
            )

        broker = mesh.environment.env["REDIS_URL"]
        celery = Celery(broker=broker, backend=broker)

        async def tasks() -> int:
            results = [celery.send_task("demo.add", args=(i, 1)) for i in range(args.tasks)]
            for result in results:
                await asyncio.to_thread(result.get, timeout=600)
            return len(results)

        rows.append(("worker task demo.add", *await meter.measure(tasks)))
        memory = {name: peak_rss_mib(pid) for name, pid in meter.pids.items()}

    shown = ("traefik", "rbac", "auth", "storage", "worker", "valkey", "mongo")
    lines = [
        f"Load average at start: {load:.1f} (2 cores, shared with other jobs).",
        "",
        "| phase | served | wall s | per s | " + " | ".join(f"{n} CPU ms" for n in shown) + " |",
        "|---|---:|---:|---:|" + "---:|" * len(shown),
    ]
    for label, served, wall, cpu in rows:
        cells = " | ".join(f"{cpu[n]:.2f}" for n in shown)
        lines.append(f"| {label} | {served} | {wall:.1f} | {served / wall:.0f} | {cells} |")
    lines += [
        "",
        "| process | peak resident memory MiB |",
        "|---|---:|",
        *(f"| {n} | {memory[n]:.0f} |" for n in PROCESSES if n in memory),
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(prog="deploy/capacity/measure.py")
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--logins", type=int, default=60)
    parser.add_argument("--presigns", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=300)
    sys.stdout.write(asyncio.run(measure(parser.parse_args())) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
