"""Which gateway `mesh token` logs in at: `--url`, `MESH_URL`, the state dir's mesh, the default."""

from pathlib import Path

import pytest

from mesh.state import StateDir
from mesh.token import DEFAULT_URL, gateway_url


@pytest.fixture
def state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> StateDir:
    monkeypatch.delenv("MESH_URL", raising=False)
    state = StateDir(tmp_path)
    state.run.mkdir(parents=True)
    state.record([], {"url": "http://127.0.0.1:18000"})
    return state


def test_the_mesh_running_from_the_state_dir(state: StateDir) -> None:
    assert gateway_url(state, None) == "http://127.0.0.1:18000"


def test_the_default_gateway_when_no_mesh_was_recorded(tmp_path: Path, state: StateDir) -> None:
    assert gateway_url(StateDir(tmp_path / "empty"), None) == DEFAULT_URL


def test_mesh_url_as_the_examples_take_it_wins_over_the_state_dir(
    state: StateDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MESH_URL", "http://gateway.example:8080/")

    assert gateway_url(state, None) == "http://gateway.example:8080"


def test_the_url_given_wins_over_mesh_url(state: StateDir, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_URL", "http://gateway.example:8080")

    assert gateway_url(state, "http://127.0.0.1:9000/") == "http://127.0.0.1:9000"
