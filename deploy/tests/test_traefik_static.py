"""The cluster's Traefik (deploy/traefik/values.yaml, for Traefik's own chart) is started with
every static decision of gateway/traefik.yml, and Traefik itself accepts each argument."""

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
STATIC = REPO / "gateway" / "traefik.yml"
TRAEFIK_VALUES = REPO / "deploy" / "traefik" / "values.yaml"
ENTRY_POINTS = ("web", "websecure")


def flags(prefix: str, value: Any) -> Iterator[str]:
    """Traefik's command-line form of a static configuration subtree."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from flags(f"{prefix}.{key}", inner)
    elif isinstance(value, list):
        yield f"--{prefix}={','.join(map(str, value))}"
    elif isinstance(value, bool):
        yield f"--{prefix}={str(value).lower()}"
    else:
        yield f"--{prefix}={value}"


# Parts of traefik.yml that are the cluster's own business: where entry points listen, the
# ping entry point (Traefik's chart has its own health port), and the providers (the file
# provider there, the Kubernetes CRD provider here). Everything else must be carried.
NOT_CARRIED = ("providers", "ping")


def expected_flags() -> tuple[set[str], set[str]]:
    """(global arguments, additional arguments) that carry traefik.yml."""
    static = yaml.safe_load(STATIC.read_text())
    global_flags = set(flags("global", static.pop("global", {})))
    web = {
        key: value for key, value in static.pop("entryPoints")["web"].items() if key != "address"
    }
    additional = {flag for ep in ENTRY_POINTS for flag in flags(f"entryPoints.{ep}", web)}
    for section, value in static.items():
        if section not in NOT_CARRIED:
            additional |= set(flags(section, value))
    return global_flags, additional


def test_the_cluster_traefik_carries_every_static_decision_of_traefik_yml() -> None:
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    global_flags, additional = expected_flags()

    assert global_flags <= set(values["globalArguments"])
    assert additional <= set(values["additionalArguments"])
    assert values["providers"]["kubernetesCRD"]["enabled"] is True


def traefik_refusal(
    arguments: list[str], cwd: Path | None = None, log: list[str] | None = None
) -> str | None:
    """Traefik's error for these arguments, or None once it has started with them (run in
    `cwd`; its log up to then appended to `log`)."""
    traefik = Path(sys.executable).parent / "traefik"
    argv = [
        str(traefik),
        *(f"--entryPoints.{ep}.address=127.0.0.1:0" for ep in ENTRY_POINTS),
        *arguments,
    ]
    with subprocess.Popen(  # noqa: S603 - our arguments, no shell
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=cwd
    ) as process:
        try:
            assert process.stdout is not None
            # Traefik decodes its flags before anything else: an error, or the providers start
            # (after the plugins are loaded).
            for line in process.stdout:
                if log is not None:
                    log.append(line)
                if "Command error" in line:
                    return line
                if "Starting provider" in line:
                    return None
            return f"traefik exited with {process.wait()}"
        finally:
            process.terminate()
            process.wait(timeout=30)


def test_traefik_accepts_every_argument() -> None:
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())

    assert traefik_refusal(values["globalArguments"] + values["additionalArguments"]) is None


@pytest.mark.parametrize(
    "argument",
    [
        "--entryPoints.web.http.encodedCharacters.allowEncodedSlashes=false",
        "--entryPoints.web.transport.respondingTimeouts.readTimeout=soon",
    ],
)
def test_traefik_refuses_a_misspelled_argument(argument: str) -> None:
    assert traefik_refusal([argument]) is not None


def mount_like_the_kubelet(root: Path, manifests: list[dict[str, Any]]) -> None:
    """Writes, under `root` standing for `/`, the files of each ConfigMap volume
    deploy/traefik/values.yaml mounts into the Traefik pods, from the chart's ConfigMaps."""
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    volumes = {v["name"]: v for v in values["deployment"]["additionalVolumes"]}
    config_maps = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "ConfigMap"}
    for mount in values["additionalVolumeMounts"]:
        config_map = config_maps[volumes[mount["name"]]["configMap"]["name"]]
        target = root / mount["mountPath"].lstrip("/")
        target.mkdir(parents=True)
        for key, content in config_map["data"].items():
            (target / key).write_bytes(content.encode())


def plugins_load(log: list[str]) -> bool:
    loaded = [line for line in log if "Plugins loaded." in line]
    return bool(loaded) and not any("Plugins are disabled" in line for line in log)


def test_traefik_loads_the_plugins_from_the_files_mounted_into_its_pods(
    render_chart: Callable[..., list[dict[str, Any]]], tmp_path: Path
) -> None:
    # Traefik's official image runs it in `/`; tmp_path stands for that root here.
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    mount_like_the_kubelet(tmp_path, render_chart())
    log: list[str] = []

    refusal = traefik_refusal(
        values["globalArguments"] + values["additionalArguments"], cwd=tmp_path, log=log
    )

    assert refusal is None
    assert plugins_load(log), "".join(log)
    for name in yaml.safe_load(STATIC.read_text())["experimental"]["localPlugins"]:
        assert any("Plugins loaded." in line and name in line for line in log)


def test_a_plugin_that_does_not_compile_is_not_loaded(
    render_chart: Callable[..., list[dict[str, Any]]], tmp_path: Path
) -> None:
    # The check above can fail: Traefik really compiles the mounted source.
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    mount_like_the_kubelet(tmp_path, render_chart())
    (source,) = tmp_path.glob("plugins-local/src/**/rbacauth.go")
    source.write_text(source.read_text() + "\nfunc broken( {\n")
    log: list[str] = []

    traefik_refusal(
        values["globalArguments"] + values["additionalArguments"], cwd=tmp_path, log=log
    )

    assert not plugins_load(log)
