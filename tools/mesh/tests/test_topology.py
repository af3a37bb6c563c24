"""The table of processes: start order of the one-shots and what each one is given."""

import sys
from pathlib import Path

import pytest

from mesh.seaweed import SeaweedPorts
from mesh.state import StateDir
from mesh.topology import (
    TOPOLOGY,
    Context,
    Kind,
    ProcessSpec,
    parse_replicas,
    replica_names,
    with_replicas,
)


def spec(name: str) -> ProcessSpec:
    [found] = [s for s in TOPOLOGY if s.name == name]
    return found


def test_each_seed_runs_after_its_services_migrations_and_before_the_service() -> None:
    for service in ("auth", "scheduler"):
        migrations, seed, api = (
            spec(f"{service}-migrations"),
            spec(f"{service}-seed"),
            spec(service),
        )
        assert seed.kind is Kind.ONESHOT
        assert migrations.stage < seed.stage < api.stage


def test_the_scheduler_seed_follows_the_scheduler_migrations_in_the_table() -> None:
    names = [s.name for s in TOPOLOGY]

    assert names.index("scheduler-seed") == names.index("scheduler-migrations") + 1


def test_the_scheduler_seed_runs_its_module_without_the_admin_password(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    ports = dict.fromkeys(("valkey", "mongo", "auth", "rbac", "storage", "scheduler"), 1)
    ctx = Context(
        state=state,
        ports=ports,
        s3_ports=SeaweedPorts(*range(2, 11)),
        env={"SCHEDULER_DATABASE_URL": "sqlite+aiosqlite:///scheduler.sqlite3"},
        gateway_port=8000,
        admin_password="only-for-the-auth-seed",
    )

    seed = spec("scheduler-seed").build(ctx)
    auth_seed = spec("auth-seed").build(ctx)

    assert seed.argv == [sys.executable, "-m", "scheduler.seed"]
    assert seed.env is not None
    assert "ADMIN_PASSWORD" not in seed.env
    assert seed.env["SCHEDULER_DATABASE_URL"] == "sqlite+aiosqlite:///scheduler.sqlite3"
    assert seed.cwd == state.root
    assert auth_seed.env is not None
    assert auth_seed.env["ADMIN_PASSWORD"] == "only-for-the-auth-seed"


def test_replicas_are_parsed_as_mesh_up_takes_them() -> None:
    assert parse_replicas(None) == {}
    assert parse_replicas(["2"]) == {
        "auth": 2,
        "rbac": 2,
        "storage": 2,
        "scheduler": 2,
        "worker": 2,
        "beat": 2,
    }
    assert parse_replicas(["1"])["beat"] == 1
    assert parse_replicas(["auth=3,worker=2", "beat=2"]) == {"auth": 3, "worker": 2, "beat": 2}
    for wrong in ("0", "auth=x", "valkey=2", "auth=-1"):
        with pytest.raises(ValueError, match="--replicas"):
            parse_replicas([wrong])


def test_replicas_follow_their_process_with_their_own_names_and_ports() -> None:
    specs = with_replicas(TOPOLOGY, {"auth": 3, "worker": 2})
    names = [spec.name for spec in specs]
    assert names[names.index("auth") : names.index("auth") + 3] == ["auth", "auth-2", "auth-3"]
    assert names[names.index("worker") + 1] == "worker-2"
    assert len(names) == len(TOPOLOGY) + 3
    assert replica_names({"auth": 2})["auth"] == ["auth", "auth-2"]
    assert replica_names({})["rbac"] == ["rbac"]
