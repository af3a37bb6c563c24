"""The chart ships the gateway's local Traefik plugins (gateway/plugins-local) to Traefik's pods.

Traefik reads a local plugin's source at start from
`./plugins-local/src/<moduleName>` under its working directory. The chart writes each plugin's
files as a ConfigMap into Traefik's namespace (templates/gateway-plugins.yaml, from
files/plugins-local, links to gateway/plugins-local), and deploy/traefik/values.yaml mounts it
there in the Traefik pods and declares the plugin. These tests hold the three to one another and
to the source, byte for byte; test_traefik_static.py starts Traefik on the mounted files.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
PLUGINS = REPO / "gateway" / "plugins-local" / "src"
STATIC = REPO / "gateway" / "traefik.yml"
TRAEFIK_VALUES = REPO / "deploy" / "traefik" / "values.yaml"
CHART_VALUES = REPO / "deploy" / "helm" / "values.yaml"
# Traefik's official image sets no WORKDIR and Traefik's chart no workingDir: Traefik runs in `/`.
TRAEFIK_WORKING_DIR = "/"

type Manifests = list[dict[str, Any]]


def local_plugins() -> dict[str, str]:
    """gateway/traefik.yml's local plugins: name -> module name."""
    declared = yaml.safe_load(STATIC.read_text())["experimental"]["localPlugins"]
    return {name: plugin["moduleName"] for name, plugin in declared.items()}


def source_files(module: str) -> dict[str, bytes]:
    """What Traefik loads of a plugin: every file of its directory but Go's tests, by path."""
    root = PLUGINS / module
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.endswith("_test.go")
    }


def plugin_config_maps(manifests: Manifests) -> dict[str, dict[str, Any]]:
    chart = yaml.safe_load(CHART_VALUES.read_text())["gateway"]["localPlugins"]
    return {
        m["metadata"]["name"].removeprefix(chart["configMapPrefix"]): m
        for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"].startswith(chart["configMapPrefix"])
    }


def test_each_config_map_holds_its_plugin_s_files_byte_for_byte(rendered: Manifests) -> None:
    config_maps = plugin_config_maps(rendered)

    assert set(config_maps) == set(local_plugins())
    for name, module in local_plugins().items():
        data = config_maps[name]["data"]
        assert "binaryData" not in config_maps[name], name
        # A subdirectory has no ConfigMap key: it would be missing here and fail the comparison.
        assert {key: value.encode() for key, value in data.items()} == source_files(module)
        assert source_files(module)["go.mod"].startswith(f"module {module}\n".encode())


def test_a_changed_plugin_file_is_caught(rendered: Manifests) -> None:
    # The comparison above can fail: one byte more in a ConfigMap's file is a difference.
    (name, module), *_ = local_plugins().items()
    data = dict(plugin_config_maps(rendered)[name]["data"])
    key = next(iter(data))
    data[key] += "\n"

    assert {k: v.encode() for k, v in data.items()} != source_files(module)


def test_the_traefik_pods_mount_each_config_map_where_traefik_reads_the_plugin(
    rendered: Manifests,
) -> None:
    config_maps = plugin_config_maps(rendered)
    values = yaml.safe_load(TRAEFIK_VALUES.read_text())
    volumes = {v["name"]: v for v in values["deployment"]["additionalVolumes"]}
    mounts = {m["mountPath"]: m for m in values["additionalVolumeMounts"] if m["name"] in volumes}
    chart = yaml.safe_load(CHART_VALUES.read_text())
    traefik_namespace = chart["networkPolicy"]["gateway"]["namespaceSelector"]["matchLabels"][
        "kubernetes.io/metadata.name"
    ]

    for name, module in local_plugins().items():
        path = str(Path(TRAEFIK_WORKING_DIR) / "plugins-local" / "src" / module)
        mount = mounts[path]
        assert mount["readOnly"] is True
        assert "subPath" not in mount  # a subPath mount would never see an upgrade's files
        assert volumes[mount["name"]]["configMap"]["name"] == config_maps[name]["metadata"]["name"]
        # ConfigMap volumes are read from the pod's own namespace: Traefik's.
        assert config_maps[name]["metadata"]["namespace"] == traefik_namespace
        flag = f"--experimental.localPlugins.{name}.moduleName={module}"
        assert flag in values["additionalArguments"]


def test_local_plugins_can_be_left_to_the_cluster(
    render_chart: Callable[..., Manifests], chart_dir: Path
) -> None:
    manifests = render_chart(None, chart_dir, "gateway.localPlugins.enabled=false")

    assert plugin_config_maps(manifests) == {}


def test_the_packaged_chart_carries_the_plugins_files_themselves(
    render_chart: Callable[..., Manifests], packaged_chart: Path
) -> None:
    # files/plugins-local holds links out of the chart: `helm package` must store the content.
    config_maps = plugin_config_maps(render_chart(None, packaged_chart))

    for name, module in local_plugins().items():
        data = config_maps[name]["data"]
        assert {key: value.encode() for key, value in data.items()} == source_files(module)


def test_the_gateway_s_decision_is_the_plugin_the_pods_load(rendered: Manifests) -> None:
    # The `authorize` Middleware names a plugin Traefik is told to load, with rbac's address.
    authorize = next(
        m
        for m in rendered
        if m["kind"] == "Middleware" and m["metadata"]["name"].endswith("-authorize")
    )
    ((name, settings),) = authorize["spec"]["plugin"].items()

    assert name in local_plugins()
    assert settings["address"] == (
        "http://amdb-async-fastapi-multidb-rbac.platform.svc.cluster.local:8000/authorize"
    )
