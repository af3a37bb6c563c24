"""The chart's IngressRoutes and Middlewares make the decisions gateway/dynamic/routes.yml makes.

The chart generates them from that file, and this test does not trust the generation: it reads
routes.yml and the rendered objects independently, reduces both to the same model (per router:
rule, priority, the chain of middleware configurations in order, the upstream; every middleware's
configuration, whatever its kind, a plugin included) and compares the models. The only
translations are the deployment's own: `{{ env "X_URL" }}` is service x's in-cluster URL, the
entry points come from the values, and a configured host wraps each rule as
`Host(...) && (rule)`.
"""

import copy
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROUTES = REPO / "gateway" / "dynamic" / "routes.yml"
FULLNAME = "amdb-async-fastapi-multidb"
NAMESPACE = "platform"

type Manifests = list[dict[str, Any]]
type Model = dict[str, Any]


def _canonical(config: Any) -> str:
    return json.dumps(config, sort_keys=True)


def _map_strings(config: Any, change: Callable[[str], str]) -> Any:
    if isinstance(config, str):
        return change(config)
    if isinstance(config, dict):
        return {key: _map_strings(value, change) for key, value in config.items()}
    if isinstance(config, list):
        return [_map_strings(item, change) for item in config]
    return config


def model_of_file(http: dict[str, Any]) -> Model:
    """The decisions of a Traefik file-provider `http` section."""
    middlewares = {name: _canonical(config) for name, config in http["middlewares"].items()}
    routers = {}
    for name, router in http["routers"].items():
        balancer = dict(http["services"][router["service"]]["loadBalancer"])
        del balancer["servers"]
        routers[name] = {
            "rule": router["rule"],
            "priority": router.get("priority"),
            "middlewares": [middlewares[m.split("@")[0]] for m in router.get("middlewares", [])],
            # A health check has no IngressRoute form: the pods' readiness probe does its work
            # (test_health_checked_services_run_behind_readiness_probes).
            "upstream": {
                "service": router["service"],
                "options": _canonical({k: v for k, v in balancer.items() if k != "healthCheck"}),
            },
        }
    return {"routers": routers, "middlewares": middlewares}


def model_of_manifests(manifests: Manifests, host: str = "") -> Model:
    """The same decisions read back from rendered IngressRoutes, Middlewares and Services."""

    def short(name: str) -> str:
        assert name.startswith(f"{FULLNAME}-"), name
        return name.removeprefix(f"{FULLNAME}-")

    # A Service's in-cluster URL is what the file names `{{ env "<COMPONENT>_URL" }}`.
    component_of_service, env_of_url = {}, {}
    for service in (m for m in manifests if m["kind"] == "Service"):
        name = service["metadata"]["name"]
        component = service["metadata"]["labels"]["app.kubernetes.io/component"]
        ports = {port["port"] for port in service["spec"]["ports"]}
        component_of_service[name] = (component, ports)
        env_of_url[f"http://{name}.{NAMESPACE}.svc.cluster.local:8000"] = (
            f'{{{{ env "{component.upper()}_URL" }}}}'
        )

    def in_file_terms(text: str) -> str:
        for url, variable in env_of_url.items():
            text = text.replace(url, variable)
        return text

    middlewares = {
        short(m["metadata"]["name"]): _canonical(_map_strings(m["spec"], in_file_terms))
        for m in manifests
        if m["kind"] == "Middleware"
    }
    routers = {}
    for route_object in (m for m in manifests if m["kind"] == "IngressRoute"):
        (route,) = route_object["spec"]["routes"]
        assert route["kind"] == "Rule"
        rule = route["match"]
        # A rule without the host's wrapper is kept whole, so it differs from the file's.
        wrapper = re.fullmatch(rf"Host\(`{re.escape(host)}`\) && \((.*)\)", rule)
        if host and wrapper is not None:
            rule = wrapper.group(1)
        (backend,) = route["services"]
        component, ports = component_of_service[backend["name"]]
        assert backend["port"] in ports, backend
        options = {k: v for k, v in backend.items() if k not in ("name", "port")}
        routers[short(route_object["metadata"]["name"])] = {
            "rule": rule,
            "priority": route.get("priority"),
            "middlewares": [middlewares[short(m["name"])] for m in route.get("middlewares", [])],
            "upstream": {"service": component, "options": _canonical(options)},
        }
    return {"routers": routers, "middlewares": middlewares}


def entry_points(manifests: Manifests) -> set[tuple[str, ...]]:
    return {tuple(m["spec"]["entryPoints"]) for m in manifests if m["kind"] == "IngressRoute"}


def _values(values_files: dict[str, Path | None], name: str) -> dict[str, Any]:
    path = values_files[name]
    gateway: dict[str, Any] = {"entryPoints": ["web"], "host": ""}
    if path is not None:
        gateway |= yaml.safe_load(path.read_text()).get("gateway", {})
    return gateway


def test_the_rendered_routes_make_the_decisions_of_routes_yml(
    rendered: Manifests, values_name: str, values_files: dict[str, Path | None]
) -> None:
    gateway = _values(values_files, values_name)
    file_http = yaml.safe_load(ROUTES.read_text())["http"]

    assert model_of_manifests(rendered, gateway["host"]) == model_of_file(file_http)
    # Entry points are the cluster's Traefik's (its `web` is the file's `web`).
    assert {tuple(r["entryPoints"]) for r in file_http["routers"].values()} == {("web",)}
    assert entry_points(rendered) == {tuple(gateway["entryPoints"])}


def test_every_middleware_that_asks_rbac_asks_the_release_s_rbac(rendered: Manifests) -> None:
    # The rbacauth plugin today (forwardAuth before it): whatever asks rbac asks this release's.
    file_middlewares = yaml.safe_load(ROUTES.read_text())["http"]["middlewares"]
    asking = {name for name, c in file_middlewares.items() if "RBAC_URL" in json.dumps(c)}
    rbac = f"http://{FULLNAME}-rbac.{NAMESPACE}.svc.cluster.local:8000"
    rendered_asking = {
        m["metadata"]["name"].removeprefix(f"{FULLNAME}-")
        for m in rendered
        if m["kind"] == "Middleware" and rbac in json.dumps(m["spec"])
    }

    assert asking
    assert rendered_asking == asking


def _with_routes(chart_dir: Path, tmp_path: Path, http: dict[str, Any]) -> Path:
    """A copy of the chart whose files/routes.yml holds `http`."""
    chart = tmp_path / "chart"
    shutil.copytree(chart_dir, chart)
    (chart / "files" / "routes.yml").unlink()
    (chart / "files" / "routes.yml").write_text(yaml.safe_dump({"http": http}))
    return chart


def test_a_plugin_middleware_and_a_new_router_are_carried_over(
    render_chart: Callable[..., Manifests],
    chart_dir: Path,
    tmp_path: Path,
    manifest_errors: Callable[[dict[str, Any]], Any],
) -> None:
    # Another local plugin in place of rbacauth, as the file provider writes one.
    http = yaml.safe_load(ROUTES.read_text())["http"]
    http["middlewares"]["authorize"] = {
        "plugin": {
            "gatewaycache": {
                "authorizeUrl": '{{ env "RBAC_URL" }}/authorize',
                "ttlSeconds": 1,
                "forwardHeaders": ["Authorization", "User-Agent"],
            }
        }
    }
    http["routers"]["storage-downloads"] = {
        "rule": "PathPrefix(`/storage/files`) && Method(`GET`)",
        "priority": 100,
        "entryPoints": ["web"],
        "middlewares": ["identity-cleared", "authorize", "service-prefix-stripped"],
        "service": "storage",
    }

    manifests = render_chart(None, _with_routes(chart_dir, tmp_path, http))

    assert model_of_manifests(manifests) == model_of_file(http)
    plugin = next(m for m in manifests if m["metadata"]["name"].endswith("-authorize"))
    assert plugin["spec"]["plugin"]["gatewaycache"]["authorizeUrl"] == (
        f"http://{FULLNAME}-rbac.{NAMESPACE}.svc.cluster.local:8000/authorize"
    )
    assert [e for m in manifests for e in manifest_errors(m)] == []


def test_a_route_to_a_service_the_chart_does_not_run_is_refused(
    render_chart: Callable[..., Manifests], chart_dir: Path, tmp_path: Path
) -> None:
    http = yaml.safe_load(ROUTES.read_text())["http"]
    http["services"]["billing"] = {
        "loadBalancer": {"servers": [{"url": '{{ env "BILLING_URL" }}'}]}
    }
    http["routers"]["billing"] = {**http["routers"]["auth"], "service": "billing"}

    with pytest.raises(AssertionError, match="no service of this chart"):
        render_chart(None, _with_routes(chart_dir, tmp_path, http))


def _replicated(http: dict[str, Any]) -> dict[str, Any]:
    """routes.yml as the local mesh's replicas write it: each service's servers from a
    template range over `{NAME}_URLS` (its actions in YAML comments), health-checked, and one
    service with load-balancer options an IngressRoute has too."""
    for service in http["services"].values():
        service["loadBalancer"] = {
            "healthCheck": {"path": "/health", "interval": "1s", "timeout": "1s"},
            "servers": [{"url": "{{ $url }}"}],
        }
    http["services"]["storage"]["loadBalancer"]["passHostHeader"] = True
    return http


def test_replicated_and_health_checked_services_carry_over(
    render_chart: Callable[..., Manifests], chart_dir: Path, tmp_path: Path
) -> None:
    http = _replicated(yaml.safe_load(ROUTES.read_text())["http"])

    manifests = render_chart(None, _with_routes(chart_dir, tmp_path, http))

    assert model_of_manifests(manifests) == model_of_file(http)
    storage = _named(manifests, "IngressRoute", "storage")
    assert storage["spec"]["routes"][0]["services"][0]["passHostHeader"] is True


def test_health_checked_services_run_behind_readiness_probes(rendered: Manifests) -> None:
    # What a file health check does (no requests to an instance that fails it) is the
    # readiness probe's work in Kubernetes: every Service routed to selects probed pods only.
    routed = {
        backend["name"]
        for m in rendered
        if m["kind"] == "IngressRoute"
        for route in m["spec"]["routes"]
        for backend in route["services"]
    }
    for deployment in (m for m in rendered if m["kind"] == "Deployment"):
        if deployment["metadata"]["name"] in routed:
            for container in deployment["spec"]["template"]["spec"]["containers"]:
                assert "readinessProbe" in container, deployment["metadata"]["name"]
    assert routed


def test_a_load_balancer_option_without_an_ingressroute_form_is_refused(
    render_chart: Callable[..., Manifests], chart_dir: Path, tmp_path: Path
) -> None:
    http = yaml.safe_load(ROUTES.read_text())["http"]
    http["services"]["auth"]["loadBalancer"]["mirrors"] = [{"name": "shadow"}]

    with pytest.raises(AssertionError, match="no IngressRoute equivalent"):
        render_chart(None, _with_routes(chart_dir, tmp_path, http))


def _named(manifests: Manifests, kind: str, name: str) -> dict[str, Any]:
    return next(
        m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == f"{FULLNAME}-{name}"
    )


def _drop_a_middleware(manifests: Manifests) -> None:
    route = _named(manifests, "IngressRoute", "storage")
    route["spec"]["routes"][0]["middlewares"].pop(0)


def _reorder_a_chain(manifests: Manifests) -> None:
    route = _named(manifests, "IngressRoute", "auth")
    route["spec"]["routes"][0]["middlewares"].reverse()


def _widen_a_rule(manifests: Manifests) -> None:
    route = _named(manifests, "IngressRoute", "rbac")
    route["spec"]["routes"][0]["match"] = "PathPrefix(`/rbac`)"


def _forward_another_header(manifests: Manifests) -> None:
    # Whatever does the decision (forwardAuth, or a plugin with forwardAuth's settings).
    spec = _named(manifests, "Middleware", "authorize")["spec"]
    (config,) = spec.get("plugin", spec).values()
    config["authRequestHeaders"].append("Cookie")


def _route_to_another_service(manifests: Manifests) -> None:
    route = _named(manifests, "IngressRoute", "docs")
    route["spec"]["routes"][0]["services"][0]["name"] = f"{FULLNAME}-auth"


@pytest.mark.parametrize(
    "drift",
    [
        _drop_a_middleware,
        _reorder_a_chain,
        _widen_a_rule,
        _forward_another_header,
        _route_to_another_service,
    ],
)
def test_a_drift_from_routes_yml_is_caught(
    rendered: Manifests,
    values_name: str,
    values_files: dict[str, Path | None],
    drift: Callable[[Manifests], None],
) -> None:
    gateway = _values(values_files, values_name)
    manifests = copy.deepcopy(rendered)
    drift(manifests)

    assert model_of_manifests(manifests, gateway["host"]) != model_of_file(
        yaml.safe_load(ROUTES.read_text())["http"]
    )


type Setting = tuple[str | int, ...]


def _settings(config: Any, path: Setting = ()) -> list[Setting]:
    """The path of every scalar in a middleware's configuration."""
    if isinstance(config, dict):
        return [s for key, value in config.items() for s in _settings(value, (*path, key))]
    if isinstance(config, list):
        return [s for index, value in enumerate(config) for s in _settings(value, (*path, index))]
    return [path]


def _changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    return f"{value}-drifted"


# Every setting of every middleware of routes.yml (the `authorize` plugin's included).
SETTINGS = [
    (name, setting)
    for name, config in yaml.safe_load(ROUTES.read_text())["http"]["middlewares"].items()
    for setting in _settings(config)
]


@pytest.mark.parametrize(
    ("middleware", "setting"), SETTINGS, ids=[f"{m}:{'.'.join(map(str, s))}" for m, s in SETTINGS]
)
def test_a_drift_in_any_middleware_setting_is_caught(
    rendered: Manifests,
    values_name: str,
    values_files: dict[str, Path | None],
    middleware: str,
    setting: Setting,
) -> None:
    gateway = _values(values_files, values_name)
    manifests = copy.deepcopy(rendered)
    # The file's `plugin: {name: ...}` is the Middleware's `spec.plugin.name`: the same path.
    *parents, leaf = setting
    config = _named(manifests, "Middleware", middleware)["spec"]
    for key in parents:
        config = config[key]
    config[leaf] = _changed(config[leaf])

    assert model_of_manifests(manifests, gateway["host"]) != model_of_file(
        yaml.safe_load(ROUTES.read_text())["http"]
    )


def test_the_packaged_chart_carries_routes_yml_itself(
    render_chart: Callable[..., Manifests], packaged_chart: Path
) -> None:
    # files/routes.yml is a link out of the chart: `helm package` must store the file's content,
    # or a chart installed from a repository would route nothing.
    manifests = render_chart(None, packaged_chart)

    assert model_of_manifests(manifests) == model_of_file(
        yaml.safe_load(ROUTES.read_text())["http"]
    )
