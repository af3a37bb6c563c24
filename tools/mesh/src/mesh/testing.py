"""Start a mesh from Python the way `mesh up --detach` does (e2e fixtures, benchmarks)."""

import os
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from mesh.net import free_port
from mesh.supervisor import Mesh, start, stop_processes


@contextmanager
def running_mesh(
    state_dir: Path,
    port: int | None = None,
    env: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
    timeout: float = 120.0,
    replicas: Mapping[str, int] | None = None,
) -> Iterator[Mesh]:
    """A mesh on `port` (a free one by default), stopped with all its processes on exit.

    `env` is added to this process's environment for the mesh's processes (e.g. `REDIS_URL` to
    use an existing server); `only` runs a subset of the topology; `replicas` (as
    `mesh.topology.parse_replicas` returns) several instances of services, workers and beats.
    """
    environ = {**os.environ, **(env or {})}
    mesh = start(
        state_dir,
        port or free_port(),
        environ=environ,
        only=only,
        timeout=timeout,
        report=lambda _message: None,
        replicas=replicas,
    )
    try:
        yield mesh
    finally:
        stop_processes(mesh.processes, mesh.children)
        mesh.state.forget()
