"""Every object the chart renders is valid for the Kubernetes API server and Traefik's CRDs
(the checks themselves: `validation_errors` in conftest.py)."""

import copy
import re
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

type Errors = Callable[[dict[str, Any]], Iterator[str]]


def test_every_rendered_object_validates(
    rendered: list[dict[str, Any]], manifest_errors: Errors
) -> None:
    errors = [error for manifest in rendered for error in manifest_errors(manifest)]

    assert errors == []


def test_the_chart_renders_every_kind_it_promises(rendered: list[dict[str, Any]]) -> None:
    kinds = {manifest["kind"] for manifest in rendered}

    assert kinds >= {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "Job",
        "NetworkPolicy",
        "IngressRoute",
        "Middleware",
    }


def test_the_development_secret_renders_and_validates(
    render_chart: Callable[..., list[dict[str, Any]]], chart_dir: Path, manifest_errors: Errors
) -> None:
    manifests = render_chart(
        None,
        chart_dir,
        "secrets.create=true",
        "secrets.data.redis-url=redis://:not-a-real-password@redis:6379/0",
    )
    secrets = [manifest for manifest in manifests if manifest["kind"] == "Secret"]

    assert [s["stringData"] for s in secrets] == [
        {"redis-url": "redis://:not-a-real-password@redis:6379/0"}
    ]
    # A hook before the migration Jobs, which read it before any regular object exists.
    assert secrets[0]["metadata"]["annotations"]["helm.sh/hook-weight"] == "-10"
    assert [error for m in manifests for error in manifest_errors(m)] == []


def test_the_default_release_holds_no_secret(rendered: list[dict[str, Any]]) -> None:
    assert [m["metadata"]["name"] for m in rendered if m["kind"] == "Secret"] == []


@pytest.mark.parametrize(
    ("kind", "damage"),
    [
        ("Deployment", lambda m: m["spec"]["template"]["spec"].update(restartPolicyy="Always")),
        ("Deployment", lambda m: m["spec"].update(replicas="two")),
        ("Middleware", lambda m: m["spec"].update(forwardAuthh={"address": "http://x"})),
        (
            "Middleware",
            lambda m: m["spec"].setdefault("headers", {}).update(customRequestHeaders=1),
        ),
        ("IngressRoute", lambda m: m["spec"]["routes"][0].update(kind="Rules")),
        ("IngressRoute", lambda m: m["spec"]["routes"][0]["services"][0].update(prot=8000)),
    ],
)
def test_a_damaged_object_is_refused(
    rendered: list[dict[str, Any]], manifest_errors: Errors, kind: str, damage: Any
) -> None:
    manifest = copy.deepcopy(next(m for m in rendered if m["kind"] == kind))
    damage(manifest)

    assert list(manifest_errors(manifest)) != []


def test_helm_lint_passes_strictly(helm: Path, chart_dir: Path, values_name: str) -> None:
    values = {"default": [], "production": ["--values", str(chart_dir / "values-production.yaml")]}
    result = subprocess.run(  # noqa: S603 - our arguments, no shell
        [str(helm), "lint", "--strict", str(chart_dir), *values[values_name]],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize(
    ("assignment", "refusal"),
    [
        ("servics.auth.replicas=3", "additional properties 'servics' not allowed"),
        ("beat.replicas=3", "/beat/replicas"),
        ("redis.url.key=", "/redis/url/key"),
        ("s3.endpoint=https://s3.example.com/bucket", "/s3/endpoint"),
        ("podSecurityContext.runAsNonRoot=false", "/podSecurityContext/runAsNonRoot"),
    ],
)
def test_a_misspelled_or_unsafe_value_is_refused(
    render_chart: Callable[..., list[dict[str, Any]]],
    chart_dir: Path,
    assignment: str,
    refusal: str,
) -> None:
    with pytest.raises(AssertionError, match=re.escape(refusal)):
        render_chart(None, chart_dir, assignment)


def test_a_traefik_object_with_bad_metadata_is_refused(
    rendered: list[dict[str, Any]], manifest_errors: Errors
) -> None:
    middleware = copy.deepcopy(next(m for m in rendered if m["kind"] == "Middleware"))
    middleware["metadata"]["labels"] = {"tier": 3}

    assert list(manifest_errors(middleware)) != []


def test_the_chart_refuses_a_cluster_older_than_its_schemas(
    render_chart: Callable[..., list[dict[str, Any]]], chart_dir: Path
) -> None:
    # Validated against 1.30 and newer only (the preStop sleep action is 1.30's).
    assert render_chart(None, chart_dir, kube_version="1.30.0")
    with pytest.raises(AssertionError, match=re.escape("incompatible with Kubernetes v1.29.0")):
        render_chart(None, chart_dir, kube_version="1.29.0")
