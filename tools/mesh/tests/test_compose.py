"""compose.yaml and the images, checked statically; `make test-compose` runs them for real."""

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from mesh.topology import TOPOLOGY, Kind

REPO = Path(__file__).resolve().parents[3]
COMPOSE = REPO / "compose.yaml"
LOCAL = REPO / "compose.local.yaml"
ONE_SHOT = "service_completed_successfully"
PUBLISHED = {"gateway", "minio"}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


def test_compose_file_matches_the_compose_specification() -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(
    shutil.which("docker-compose") is None,
    reason="docker-compose is not installed (.ci/run installs Debian's package)",
)
@pytest.mark.parametrize("files", [[COMPOSE], [COMPOSE, LOCAL]], ids=["compose", "with-local"])
def test_docker_compose_accepts_the_file(files: list[Path]) -> None:
    result = subprocess.run(  # noqa: S603 - fixed arguments
        [
            str(shutil.which("docker-compose")),
            "--env-file",
            str(REPO / ".env.example"),
            *[arg for path in files for arg in ("-f", str(path))],
            "config",
            "-q",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_the_local_override_swaps_images_and_nothing_else_but_the_mongo_login(
    services: dict[str, dict[str, Any]],
) -> None:
    local: dict[str, Any] = yaml.safe_load(LOCAL.read_text())
    assert set(local) == {"services"} | {key for key in local if key.startswith("x-")}
    for name, service in local["services"].items():
        assert name in services, name
        changed = set(service) - {"image", "build", "pull_policy"}
        if changed:
            assert changed == {"environment"}, name
            assert set(service["environment"]) == {"MONGO_URL"}, name
        if "build" in services[name]:
            assert "image" not in service, f"{name}: our own images keep their names"


def test_every_upstream_image_is_pinned_to_a_tag_other_than_latest(
    compose: dict[str, Any],
) -> None:
    upstream = {
        name: service["image"]
        for name, service in compose["services"].items()
        if "build" not in service
    }
    unpinned = {
        name: image
        for name, image in upstream.items()
        if ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
    }
    assert upstream
    assert not unpinned


def test_compose_has_no_top_level_name(compose: dict[str, Any]) -> None:
    assert "name" not in compose


def test_every_dependency_exists_and_waits_on_health_or_completion(
    services: dict[str, dict[str, Any]],
) -> None:
    for name, service in services.items():
        for target, rule in service.get("depends_on", {}).items():
            assert target in services, f"{name} depends on unknown {target}"
            assert rule["condition"] in ("service_healthy", ONE_SHOT), (name, target)
            if rule["condition"] == "service_healthy":
                assert "healthcheck" in services[target], f"{target} has no healthcheck"


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    one_shots = {
        target
        for service in services.values()
        for target, rule in service.get("depends_on", {}).items()
        if rule["condition"] == ONE_SHOT
    }
    for name, service in services.items():
        if name not in one_shots:
            assert "healthcheck" in service, f"{name} has no healthcheck"


def test_each_service_waits_for_a_prestart_that_runs_the_mesh_one_shots_in_order(
    services: dict[str, dict[str, Any]],
) -> None:
    oneshots = [spec.module for spec in TOPOLOGY if spec.kind is Kind.ONESHOT and spec.module]
    assert "scheduler.seed" in oneshots
    for module in oneshots:
        package = module.split(".")[0]
        prestarts = [
            " ".join(services[target]["command"])
            for target, rule in services[package]["depends_on"].items()
            if rule["condition"] == ONE_SHOT and "command" in services[target]
        ]
        [command] = [c for c in prestarts if f"python -m {module}" in c]
        if module.endswith(".seed"):
            migrations = f"python -m {package}.migrations"
            assert command.index(migrations) < command.index(f"python -m {module}")
            assert f"{migrations} && " in command, "the seed must not run after failed migrations"


def test_only_the_gateway_and_the_s3_endpoint_are_published(
    services: dict[str, dict[str, Any]],
) -> None:
    assert {name for name, s in services.items() if s.get("ports")} == PUBLISHED


def test_every_build_names_an_existing_dockerfile_and_workspace_package(
    services: dict[str, dict[str, Any]],
) -> None:
    builds = [s["build"] for s in services.values() if "build" in s]
    assert builds
    for build in builds:
        context = REPO / build["context"]
        assert (context / build["dockerfile"]).is_file()
        package = build["args"]["PACKAGE"]
        assert (context / "services" / package / "pyproject.toml").is_file(), package


def test_the_images_running_celery_hold_the_worker_package(
    services: dict[str, dict[str, Any]],
) -> None:
    """The worker and beat run `celery -A worker.app`: their image installs the worker beside
    its own package (no service depends on the worker)."""
    celery = [s for s in services.values() if "worker.app" in " ".join(s.get("command") or [])]
    assert len(celery) == 2
    for service in celery:
        args = service["build"]["args"]
        assert "worker" in {args["PACKAGE"], *args.get("WITH_PACKAGES", "").split()}


def test_the_gateway_gets_every_variable_its_configuration_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    dynamic = "".join(p.read_text() for p in (REPO / "gateway" / "dynamic").glob("*.yml"))
    read = set(re.findall(r'env\s+"([A-Z_]+)"', dynamic))
    # `(env "AUTH_URLS" | default (env "AUTH_URL"))`: the replicas' list is optional.
    optional = set(re.findall(r'env\s+"([A-Z_]+)"\s*\|\s*default', dynamic))
    assert optional == {"AUTH_URLS", "RBAC_URLS", "STORAGE_URLS", "SCHEDULER_URLS"}
    used = read - optional
    assert used >= {"AUTH_URL", "RBAC_URL", "STORAGE_URL", "SCHEDULER_URL"}
    assert used <= set(services["gateway"]["environment"])


def test_the_gateway_container_reads_every_local_plugin_from_the_repository(
    services: dict[str, dict[str, Any]],
) -> None:
    """Traefik loads local plugins from ./plugins-local under its working directory: the
    container's working directory must hold gateway/plugins-local there, with each plugin's
    source and manifest."""
    gateway = services["gateway"]
    static = yaml.safe_load((REPO / "gateway" / "traefik.yml").read_text())
    plugins = static["experimental"]["localPlugins"]
    mounted = {
        target: source
        for source, target, *_ in (volume.split(":") for volume in gateway["volumes"])
    }
    workdir = gateway["working_dir"].rstrip("/")
    assert mounted[f"{workdir}/plugins-local"] == "./gateway/plugins-local"
    for plugin in plugins.values():
        source = REPO / "gateway" / "plugins-local" / "src" / plugin["moduleName"]
        assert (source / ".traefik.yml").is_file()
        assert list(source.glob("*.go"))


def test_every_interpolated_variable_is_documented_in_env_example() -> None:
    used = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", COMPOSE.read_text()))
    example = (REPO / ".env.example").read_text()
    documented = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", example, re.M))
    assert used <= documented, used - documented


def test_every_sql_database_is_created_by_the_postgres_init_script(
    services: dict[str, dict[str, Any]],
) -> None:
    urls = COMPOSE.read_text()
    databases = set(re.findall(r"@postgres:5432/([a-z_]+)", urls))
    created = services["postgres"]["environment"]["POSTGRES_SERVICE_DATABASES"].split()
    assert databases == set(created)
    init = REPO / "docker" / "postgres" / "init-databases.sh"
    assert f"./{init.relative_to(REPO)}" in str(services["postgres"]["volumes"])


def test_dockerfile_installs_dependencies_before_code_and_runs_unprivileged() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    deps = dockerfile.index('--no-install-workspace --package "${PACKAGE}"')
    code = dockerfile.index("COPY services services")
    assert deps < code < dockerfile.index('--no-editable --package "${PACKAGE}"')
    runtime = dockerfile[dockerfile.rindex("FROM ") :]
    assert "USER app" in runtime
    assert "uv" not in runtime.replace("uvicorn", "")


def test_dockerfile_copies_every_workspace_member_manifest() -> None:
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    members = [
        path.parent.relative_to(REPO).as_posix()
        for pattern in (
            "libs/*/pyproject.toml",
            "services/*/pyproject.toml",
            "tools/*/pyproject.toml",
        )
        for path in REPO.glob(pattern)
    ]
    for member in members:
        assert f"COPY {member}/pyproject.toml {member}/" in dockerfile, member


def test_env_file_with_real_secrets_is_never_committed() -> None:
    ignored = (REPO / ".gitignore").read_text().split()
    assert ".env" in ignored
