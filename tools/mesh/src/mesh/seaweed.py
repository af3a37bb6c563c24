"""SeaweedFS `weed mini` as the S3 server: loopback only, explicit ports, signed requests only."""

import dataclasses
import json
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import urllib3
from minio import Minio

from common.s3 import close_http_pools
from mesh.launch import Launch, venv_binary
from mesh.net import LOOPBACK, port_is_free

S3_REGION = "us-east-1"
# weed mini's maintenance worker dials the admin gRPC port at admin HTTP port + 10000,
# whatever -admin.port.grpc says, so both must be free and set that way.
ADMIN_GRPC_OFFSET = 10000
UNIX_SOCKET_PATH_MAX = 100


@dataclass(frozen=True)
class S3Server:
    """Where an S3 server listens and the one identity allowed to use it."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = S3_REGION


@dataclass(frozen=True)
class SeaweedPorts:
    master: int
    master_grpc: int
    volume: int
    volume_grpc: int
    filer: int
    filer_grpc: int
    s3: int
    s3_grpc: int
    admin: int

    @classmethod
    def allocate(cls) -> "SeaweedPorts":
        """Distinct free loopback ports, the admin one leaving room for its gRPC twin."""
        held: list[socket.socket] = []
        try:
            ports = [_hold(held) for _ in range(8)]
            admin = _hold(held)
            while admin + ADMIN_GRPC_OFFSET > 65535 or not port_is_free(admin + ADMIN_GRPC_OFFSET):
                admin = _hold(held)
            return cls(
                master=ports[0],
                master_grpc=ports[1],
                volume=ports[2],
                volume_grpc=ports[3],
                filer=ports[4],
                filer_grpc=ports[5],
                s3=ports[6],
                s3_grpc=ports[7],
                admin=admin,
            )
        finally:
            for sock in held:
                sock.close()

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, ports: dict[str, int]) -> "SeaweedPorts":
        return cls(**ports)

    def all_free(self) -> bool:
        ports = [*self.as_dict().values(), self.admin + ADMIN_GRPC_OFFSET]
        return all(port_is_free(port) for port in ports)


def _hold(held: list[socket.socket]) -> int:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind((LOOPBACK, 0))
    held.append(sock)
    port: int = sock.getsockname()[1]
    return port


def write_identity(path: Path, access_key: str, secret_key: str) -> None:
    """The S3 identity file: one key pair with every action; anonymous requests are refused."""
    identity = {
        "identities": [
            {
                "name": "mesh",
                "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                "actions": ["Admin", "Read", "Write", "List", "Tagging"],
            }
        ]
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        json.dump(identity, out)


def s3_check(server: S3Server) -> None:
    """Raise unless the endpoint refuses an unsigned request and serves a signed one."""
    try:
        with urllib.request.urlopen(server.endpoint + "/", timeout=2):  # noqa: S310 - loopback http
            pass
    except urllib.error.HTTPError as error:
        error.close()
        if error.code != 403:
            raise ConnectionError(f"unsigned request answered {error.code}") from error
    else:
        raise ConnectionError("the S3 endpoint accepts unsigned requests")
    host = server.endpoint.split("://", 1)[1]
    # One short attempt per check (the SDK's default pool retries for minutes), closed here
    # rather than whenever the garbage collector reaches it.
    http = urllib3.PoolManager(timeout=urllib3.Timeout(total=5.0), retries=False)
    try:
        client = Minio(
            host,
            access_key=server.access_key,
            secret_key=server.secret_key,
            secure=False,
            region=server.region,
            http_client=http,
        )
        client.list_buckets()
    finally:
        close_http_pools(http)


def _socket_path(data_dir: Path, name: str) -> list[str]:
    # Unix socket paths are limited to ~108 bytes; a deep state dir falls back to weed's default.
    path = data_dir / f"{name}.sock"
    return [f"-{name}.localSocket={path}"] if len(str(path)) < UNIX_SOCKET_PATH_MAX else []


def seaweed_launch(
    data_dir: Path, ports: SeaweedPorts, access_key: str, secret_key: str
) -> tuple[Launch, S3Server]:
    data_dir.mkdir(parents=True, exist_ok=True)
    identity = data_dir / "s3-identity.json"
    write_identity(identity, access_key, secret_key)
    server = S3Server(f"http://{LOOPBACK}:{ports.s3}", access_key, secret_key)
    argv = [
        venv_binary("weed"),
        "mini",
        f"-dir={data_dir}",
        f"-ip={LOOPBACK}",
        f"-ip.bind={LOOPBACK}",
        f"-master.port={ports.master}",
        f"-master.port.grpc={ports.master_grpc}",
        f"-volume.port={ports.volume}",
        f"-volume.port.grpc={ports.volume_grpc}",
        f"-filer.port={ports.filer}",
        f"-filer.port.grpc={ports.filer_grpc}",
        f"-s3.port={ports.s3}",
        f"-s3.port.grpc={ports.s3_grpc}",
        f"-admin.port={ports.admin}",
        f"-admin.port.grpc={ports.admin + ADMIN_GRPC_OFFSET}",
        "-admin.ui=false",
        "-webdav=false",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-master.telemetry=false",
        f"-s3.config={identity}",
        *_socket_path(data_dir, "filer"),
        *_socket_path(data_dir, "s3"),
    ]
    return Launch("s3", argv, ready=lambda: s3_check(server)), server
