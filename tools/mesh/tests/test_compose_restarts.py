"""Compose restarts every long-running service as the mesh does (`mesh.restarts`)."""

from pathlib import Path
from typing import Any

import yaml

COMPOSE = Path(__file__).resolve().parents[3] / "compose.yaml"


def test_every_long_running_compose_service_is_restarted_unless_stopped() -> None:
    services: dict[str, dict[str, Any]] = yaml.safe_load(COMPOSE.read_text())["services"]
    # A one-shot is one that another service waits for to complete.
    one_shots = {
        name
        for service in services.values()
        for name, condition in (service.get("depends_on") or {}).items()
        if isinstance(condition, dict)
        and condition.get("condition") == "service_completed_successfully"
    }
    long_running = set(services) - one_shots

    assert {"gateway", "redis", "auth", "worker", "beat"} <= long_running
    assert {n: services[n].get("restart") for n in sorted(long_running)} == dict.fromkeys(
        sorted(long_running), "unless-stopped"
    )
    assert all(services[n].get("restart") in (None, "no") for n in one_shots)
