"""The chart runs each process the way compose.yaml does, and the way a cluster needs it run:
probes, non-root and read-only, requests, autoscaling, disruption budgets, hooks, secrets."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
FULLNAME = "amdb-async-fastapi-multidb"
API_SERVICES = ("auth", "rbac", "storage", "scheduler")
# compose.yaml's service -> the chart's workload (kind, component) running the same process.
COMPOSE_TWINS = {
    "auth": ("Deployment", "auth"),
    "rbac": ("Deployment", "rbac"),
    "storage": ("Deployment", "storage"),
    "scheduler": ("Deployment", "scheduler"),
    "worker": ("Deployment", "worker"),
    "beat": ("Deployment", "beat"),
    "auth-prestart": ("Job", "auth-migrate"),
    "rbac-prestart": ("Job", "rbac-migrate"),
    "scheduler-prestart": ("Job", "scheduler-migrate"),
}
# Variables that carry credentials: each must come from a Secret, never from a value.
SECRET_VARIABLES = {
    "REDIS_URL",
    "MONGO_URL",
    "AUTH_DATABASE_URL",
    "RBAC_DATABASE_URL",
    "SCHEDULER_DATABASE_URL",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "ADMIN_PASSWORD",
}

type Manifests = list[dict[str, Any]]


def workload(manifests: Manifests, kind: str, component: str) -> dict[str, Any]:
    (found,) = [
        m
        for m in manifests
        if m["kind"] == kind and m["metadata"]["name"] == f"{FULLNAME}-{component}"
    ]
    return found


def pod_specs(manifests: Manifests) -> Iterator[tuple[str, dict[str, Any]]]:
    for m in manifests:
        if m["kind"] in ("Deployment", "Job"):
            yield f"{m['kind']}/{m['metadata']['name']}", m["spec"]["template"]["spec"]


def test_every_pod_runs_as_a_user_with_a_read_only_root_and_no_privileges(
    rendered: Manifests,
) -> None:
    for name, pod in pod_specs(rendered):
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] == 10001, name
        assert pod["automountServiceAccountToken"] is False, name
        assert pod["enableServiceLinks"] is False, name
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context["readOnlyRootFilesystem"] is True, name
            assert context["allowPrivilegeEscalation"] is False, name
            assert context["capabilities"]["drop"] == ["ALL"], name
            # The one writable place: an emptyDir on /tmp (beat's pid file).
            assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name


def test_every_container_requests_cpu_and_memory_and_bounds_memory(rendered: Manifests) -> None:
    for name, pod in pod_specs(rendered):
        for container in pod["containers"]:
            resources = container["resources"]
            assert set(resources["requests"]) == {"cpu", "memory"}, name
            assert set(resources["limits"]) == {"memory"}, name


def test_api_services_are_ready_on_ready_and_alive_on_health(rendered: Manifests) -> None:
    for component in API_SERVICES:
        (container,) = workload(rendered, "Deployment", component)["spec"]["template"]["spec"][
            "containers"
        ]

        assert container["readinessProbe"]["httpGet"] == {"path": "/ready", "port": "http"}
        assert container["livenessProbe"]["httpGet"] == {"path": "/health", "port": "http"}
        assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]


def test_services_budgets_and_policies_select_the_pods_of_their_deployment(
    rendered: Manifests,
) -> None:
    for m in rendered:
        if m["kind"] not in ("Service", "PodDisruptionBudget", "NetworkPolicy"):
            continue
        selector = m["spec"].get("selector") or m["spec"]["podSelector"]
        selector = selector.get("matchLabels", selector)
        deployment = workload(rendered, "Deployment", m["metadata"]["name"][len(FULLNAME) + 1 :])
        labels = deployment["spec"]["template"]["metadata"]["labels"]

        assert selector.items() <= labels.items(), m["metadata"]["name"]
        assert selector == deployment["spec"]["selector"]["matchLabels"]


def test_api_services_and_the_worker_autoscale_and_beat_keeps_two_replicas(
    rendered: Manifests,
) -> None:
    targets = {
        m["spec"]["scaleTargetRef"]["name"]
        for m in rendered
        if m["kind"] == "HorizontalPodAutoscaler"
    }
    beat = workload(rendered, "Deployment", "beat")

    assert targets <= {f"{FULLNAME}-{c}" for c in (*API_SERVICES, "worker")}
    assert {f"{FULLNAME}-{c}" for c in ("auth", "rbac", "storage", "worker")} <= targets
    assert beat["spec"]["replicas"] == 2
    for target in targets:
        # The HPA owns the replica count: a Deployment that set one would fight it on upgrade.
        assert (
            "replicas" not in workload(rendered, "Deployment", target[len(FULLNAME) + 1 :])["spec"]
        )
    disrupted = {m["metadata"]["name"] for m in rendered if m["kind"] == "PodDisruptionBudget"}
    assert disrupted == {m["metadata"]["name"] for m in rendered if m["kind"] == "Deployment"}


def test_migrations_run_as_hooks_before_install_and_upgrade(rendered: Manifests) -> None:
    jobs = [m for m in rendered if m["kind"] == "Job"]

    assert {j["metadata"]["name"] for j in jobs} == {
        f"{FULLNAME}-{c}-migrate" for c in ("auth", "rbac", "scheduler")
    }
    for job in jobs:
        annotations = job["metadata"]["annotations"]
        assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
        assert "before-hook-creation" in annotations["helm.sh/hook-delete-policy"]


def _environment(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {variable["name"]: variable for variable in container["env"]}


def test_credentials_come_from_secrets_only(rendered: Manifests) -> None:
    for name, pod in pod_specs(rendered):
        for container in pod["containers"]:
            for variable, entry in _environment(container).items():
                if variable in SECRET_VARIABLES:
                    assert "value" not in entry, (name, variable)
                    assert entry["valueFrom"]["secretKeyRef"]["key"], (name, variable)


SHUTDOWN_BOUND = "--timeout-graceful-shutdown"


def _shutdown_bound_elided(command: list[str]) -> list[str]:
    """The command with the value of uvicorn's graceful-shutdown bound left out."""
    return [
        "<bound>" if index and command[index - 1] == SHUTDOWN_BOUND else argument
        for index, argument in enumerate(command)
    ]


def test_api_services_shut_down_within_their_grace_period(rendered: Manifests) -> None:
    for component in API_SERVICES:
        pod = workload(rendered, "Deployment", component)["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        command = container["command"]
        bound = int(command[command.index(SHUTDOWN_BOUND) + 1])
        pause = container["lifecycle"]["preStop"]["sleep"]["seconds"]

        # The preStop pause, then uvicorn's bound, must end before the kubelet's SIGKILL.
        assert 0 < pause + bound < pod["terminationGracePeriodSeconds"], component


def test_each_process_runs_with_the_command_and_variables_compose_gives_it(
    rendered: Manifests,
) -> None:
    compose = yaml.safe_load((REPO / "compose.yaml").read_text())["services"]
    for service, (kind, component) in COMPOSE_TWINS.items():
        twin = compose[service]
        (container,) = workload(rendered, kind, component)["spec"]["template"]["spec"]["containers"]
        command = _shutdown_bound_elided(twin["command"])

        # The chart may add options (the pool size), never change the command; the one value it
        # sets itself is uvicorn's shutdown bound (compose's fits compose's 10 s stop grace, the
        # chart's its pods' grace period: test_api_services_shut_down_within_their_grace_period).
        assert _shutdown_bound_elided(container["command"])[: len(command)] == command, service
        assert set(twin.get("environment", {})) <= set(_environment(container)), service
        assert container["image"].rsplit(":", 1)[0].endswith(twin["image"]), service
