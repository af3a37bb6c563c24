"""Starting a mesh from Python: external servers, failures during start-up, state kept."""

import json
import stat
from pathlib import Path

import pytest
import yaml

from mesh.environment import build_environment
from mesh.net import free_port, port_is_free
from mesh.state import StateDir
from mesh.supervisor import MeshError, start, stop_processes
from mesh.testing import running_mesh
from mesh.topology import log_says


def test_an_embedded_server_is_not_started_when_its_url_is_set(
    tmp_path: Path, redis_url: str
) -> None:
    with running_mesh(tmp_path, env={"REDIS_URL": redis_url}, only={"valkey", "mongo"}) as mesh:
        assert [p.name for p in mesh.processes] == ["mongo"]
        assert mesh.environment.env["REDIS_URL"] == redis_url
        assert mesh.environment.external == {"valkey"}


def test_a_process_dying_at_start_is_named_with_its_log_and_the_rest_is_stopped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "gateway"
    (broken / "dynamic").mkdir(parents=True)
    source = Path(__file__).parents[3] / "gateway" / "traefik.yml"
    config = yaml.safe_load(source.read_text())
    config["entryPoints"]["web"]["noSuchOption"] = True
    (broken / "traefik.yml").write_text(yaml.safe_dump(config))
    monkeypatch.setenv("MESH_GATEWAY_DIR", str(broken))
    state_dir = tmp_path / "state"

    try:
        mesh = start(state_dir, free_port(), only={"valkey", "traefik"}, report=lambda _m: None)
    except MeshError as error:
        message = str(error)
    else:
        stop_processes(mesh.processes, mesh.children)
        pytest.fail("the mesh started with a broken gateway configuration")

    assert "traefik exited" in message
    assert str(state_dir / "logs" / "traefik.log") in message
    assert "noSuchOption" in message
    valkey_port = json.loads((state_dir / "ports.json").read_text())["valkey"]
    assert port_is_free(valkey_port)
    assert StateDir(state_dir).recorded() == ([], {})


def test_an_unknown_process_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(MeshError, match="unknown process"):
        start(tmp_path, free_port(), only={"nginx"}, report=lambda _m: None)


def test_admin_password_is_generated_once_and_readable_only_by_its_owner(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.create()
    first, generated = state.admin_password(None)
    second, generated_again = state.admin_password(None)
    assert (first, generated) == (second, True)
    assert generated_again is False
    assert stat.S_IMODE(state.admin_password_file.stat().st_mode) == 0o600
    assert state.admin_password("from-env") == ("from-env", False)


def test_chosen_ports_are_kept_between_starts(tmp_path: Path) -> None:
    state = StateDir(tmp_path)
    state.create()
    first = state.ports(["a", "b"])
    assert state.ports(["a", "b"]) == first
    assert len(set(first.values())) == 2


def test_user_urls_replace_servers_but_not_the_addresses_of_mesh_processes(
    tmp_path: Path,
) -> None:
    state = StateDir(tmp_path)
    state.create()
    ports = {"valkey": 1, "mongo": 2, "auth": 3, "rbac": 4, "storage": 5, "scheduler": 6}
    environ = {
        "MONGO_URL": "mongodb://db.example:27017",
        "AUTH_URL": "http://elsewhere",
        "ADMIN_PASSWORD": "only-for-the-seed",
    }
    environment = build_environment(state, ports, 7, environ)
    assert environment.env["MONGO_URL"] == "mongodb://db.example:27017"
    assert environment.env["AUTH_URL"] == "http://127.0.0.1:3"
    assert environment.env["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert environment.env["AUTH_JWKS_URL"] == "http://127.0.0.1:3/.well-known/jwks.json"
    assert environment.external == {"mongo"}
    assert "ADMIN_PASSWORD" not in environment.env


def test_log_readiness_ignores_what_an_earlier_run_wrote(tmp_path: Path) -> None:
    log = tmp_path / "worker.log"
    log.write_text("celery@host ready.\nworker: Warm shutdown\n")
    check = log_says(log, r"celery@\S+ ready\.")
    with pytest.raises(ConnectionError):
        check()
    with log.open("a") as out:
        out.write("celery@host ready.\n")
    check()
