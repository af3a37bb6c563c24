"""Each container's environment, as the chart renders it, loads its process's settings in
production: every variable the settings need is there, under the name they read, with a value
they accept, and credentials come in where the settings look for them (the signing key as a
file at the mounted path). Secret values are stand-ins of the right shape, since no cluster
holds real ones here."""

import os
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

from auth.keys import load_key_ring
from auth.settings import AuthSettings
from common.settings import Environment
from rbac.settings import RbacSettings
from scheduler.settings import SchedulerSettings
from storage.settings import StorageSettings
from testkit.tokens import TokenSigner
from worker.settings import WorkerSettings

FULLNAME = "amdb-async-fastapi-multidb"
SETTINGS: dict[tuple[str, str], type[BaseSettings]] = {
    ("Deployment", "auth"): AuthSettings,
    ("Deployment", "rbac"): RbacSettings,
    ("Deployment", "storage"): StorageSettings,
    ("Deployment", "scheduler"): SchedulerSettings,
    ("Deployment", "worker"): WorkerSettings,
    ("Deployment", "beat"): SchedulerSettings,
    ("Job", "auth-migrate"): AuthSettings,
    ("Job", "rbac-migrate"): RbacSettings,
    ("Job", "scheduler-migrate"): SchedulerSettings,
}
SECRET_VALUES = {
    "auth-database-url": "postgresql://auth:a-real-password@pg:5432/auth",
    "rbac-database-url": "postgresql://rbac:a-real-password@pg:5432/rbac",
    "scheduler-database-url": "postgresql://scheduler:a-real-password@pg:5432/scheduler",
    "uri": "postgresql://app:a-real-password@pg:5432/app",
    "url": "rediss://:a-real-password@redis:6380/0",
    "redis-url": "redis://:a-real-password@redis:6379/0",
    "mongo-url": "mongodb://amdb:a-real-password@mongo:27017/?authSource=admin",
    "s3-access-key": "AKIAEXAMPLEEXAMPLE",
    "s3-secret-key": "a-real-secret-key-of-forty-characters-00",
    "admin-password": "a-real-admin-password",
}


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    return TokenSigner().private_pem()


def container_environment(
    manifest: dict[str, Any], tmp_path: Path, private_key_pem: str
) -> dict[str, str]:
    """The variables the container would see, with stand-ins for Secret values and the
    signing key written where its Secret volume would mount it."""
    pod = manifest["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
    environment = {}
    for variable in container["env"]:
        if "value" in variable:
            value = variable["value"]
        else:
            key = variable["valueFrom"]["secretKeyRef"]["key"]
            if variable["name"] == "MONGO_URL" and key == "uri":
                key = "mongo-url"
            value = SECRET_VALUES[key]
        environment[variable["name"]] = value
    key_file = environment.get("AUTH_PRIVATE_KEY_FILE")
    if key_file is not None:
        # The path must be the Secret volume's mount: that is where the key file appears.
        directory = mounts["auth-private-key"]
        assert Path(key_file).parent == Path(directory)
        local = tmp_path / Path(key_file).name
        local.write_text(private_key_pem)
        environment["AUTH_PRIVATE_KEY_FILE"] = str(local)
    return environment


def test_every_container_loads_its_settings_in_production(
    rendered: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    private_key_pem: str,
) -> None:
    for (kind, component), settings_class in SETTINGS.items():
        (manifest,) = [
            m
            for m in rendered
            if m["kind"] == kind and m["metadata"]["name"] == f"{FULLNAME}-{component}"
        ]
        environment = container_environment(manifest, tmp_path, private_key_pem)
        with monkeypatch.context() as patch:
            for name in list(os.environ):
                patch.delenv(name)
            for name, value in environment.items():
                patch.setenv(name, value)
            settings = settings_class()

        assert getattr(settings, "environment", None) is Environment.PRODUCTION, component
        if isinstance(settings, AuthSettings):
            assert load_key_ring(settings).private_key.key_size == 2048
        if isinstance(settings, StorageSettings):
            assert settings.s3_secret_key.get_secret_value() == SECRET_VALUES["s3-secret-key"]
        for field in ("database_url", "mongo_url", "redis_url"):
            configured = getattr(settings, field, None)
            # The variable reached the setting (the default would point at 127.0.0.1).
            assert configured is None or "127.0.0.1" not in str(configured), (component, field)


def test_an_auth_container_without_the_signing_key_would_not_start(
    rendered: list[dict[str, Any]],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    private_key_pem: str,
) -> None:
    (auth,) = [
        m
        for m in rendered
        if m["kind"] == "Deployment" and m["metadata"]["name"] == f"{FULLNAME}-auth"
    ]
    environment = container_environment(auth, tmp_path, private_key_pem)
    del environment["AUTH_PRIVATE_KEY_FILE"]
    with monkeypatch.context() as patch:
        for name in list(os.environ):
            patch.delenv(name)
        for name, value in environment.items():
            patch.setenv(name, value)
        with pytest.raises(ValidationError, match="AUTH_PRIVATE_KEY must be set"):
            AuthSettings()
