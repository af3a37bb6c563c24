"""What the gateway's forwardAuth decision costs: `uv run python -m bench.gateway_authorize`.

The same small authenticated GET (`GET /items` with a bearer token of a user whose role grants
`bench:GET:/items`), measured with `wrk` (Debian's `wrk` package) at 1 and 16 connections:

- (a) direct to the service;
- (b) through Traefik, no forwardAuth;
- (c) through Traefik with forwardAuth to rbac's `/authorize` (real rbac: uvicorn, SQLite,
  Valkey, pub/sub-fresh caches; the decision runs in full: route match, JWT, revocation, grants);
- (d) through Traefik with forwardAuth to a no-op ASGI app under uvicorn that answers 200 at once,
  the floor the forwardAuth hop itself costs;
- (e) like (d), the no-op answered by a bare asyncio HTTP server (no ASGI, no uvicorn), to see
  how much of the floor is the server that answers `/authorize`.

"The service" is a minimal ASGI app under uvicorn, so the figures isolate the gateway and the
decision rather than a service's own work. Traefik runs with the repository's static
configuration (gateway/traefik.yml, access log included) and the forwardAuth settings of
gateway/dynamic/routes.yml. Everything shares this machine's cores with wrk.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml
from jwt.algorithms import RSAAlgorithm

from common.redis_client import create_redis
from common.route_manifest import build_manifest, publish_manifest
from mesh.gateway import gateway_dir, traefik_launch
from mesh.launch import Launch, running
from mesh.net import LOOPBACK, free_port
from mesh.topology import http_ok
from testkit.tokens import TokenSigner
from testkit.valkey import valkey_server

DURATION_SECONDS = int(os.environ.get("BENCH_SECONDS", "5"))
WARMUP_SECONDS = 1
CONNECTIONS = (1, 16)
JWKS_ENV = "BENCH_JWKS"
_OK_BODY = b'{"ok":true}'


async def noop_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """200 at once for anything; also serves the benchmark's JWKS to rbac."""
    if scope["type"] != "http":
        return
    body = _OK_BODY
    if scope["path"] == "/.well-known/jwks.json":
        body = os.environ.get(JWKS_ENV, '{"keys": []}').encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", b"%d" % len(body)),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _serve_raw(port: int) -> None:
    """A keep-alive HTTP/1.1 server that answers every request with an empty 200."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                await reader.readuntil(b"\r\n\r\n")
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, LOOPBACK, port)
    async with server:
        await server.serve_forever()


@dataclass(frozen=True)
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    # Connections to the forwardAuth target that Traefik closed during the run (TIME-WAIT).
    closed_auth_connections: int = 0


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _latency_ms(text: str, percentile: str) -> float:
    found = re.search(rf"^\s*{percentile}%\s+([0-9.]+)(us|ms|s)\s*$", text, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk printed no {percentile}% latency:\n{text}")
    return float(found.group(1)) * _UNITS[found.group(2)]


# Direct calls to an authorizer carry what Traefik would send it.
FORWARDED = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/bench/items"}
DIRECT_TO_AUTHORIZER = ("f", "g")


def wrk(url: str, connections: int, token: str, seconds: int, *, forwarded: bool = False) -> Result:
    headers = {"Authorization": f"Bearer {token}", **(FORWARDED if forwarded else {})}
    argv = [_wrk_binary(), "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    argv.append(url)
    output = subprocess.run(argv, capture_output=True, text=True, check=True).stdout  # noqa: S603
    if "Non-2xx" in output or "Socket errors" in output:
        raise RuntimeError(f"the benchmark saw failed requests at {url}:\n{output}")
    rate = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.MULTILINE)
    if rate is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    total = re.search(r"^\s*([0-9]+) requests in", output, re.MULTILINE)
    if total is None:
        raise RuntimeError(f"wrk printed no request count:\n{output}")
    return Result(
        float(rate.group(1)),
        _latency_ms(output, "50"),
        _latency_ms(output, "99"),
        int(total.group(1)),
    )


def _time_wait(port: int) -> int:
    """Sockets in TIME-WAIT towards `port`: each one a connection the client side closed."""
    output = subprocess.run(  # noqa: S603 - fixed argv
        [_ss_binary(), "-Htan", "state", "time-wait", f"( dport = :{port} )"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return len(output.splitlines())


def _ss_binary() -> str:
    return shutil.which("ss") or "/usr/bin/ss"


def _wrk_binary() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("wrk is needed for this benchmark: apt-get install wrk")
    return found


def _uvicorn(name: str, app: str, port: int, env: dict[str, str], *factory: str) -> Launch:
    argv = [sys.executable, "-m", "uvicorn", *factory, app, "--host", LOOPBACK]
    argv += ["--port", str(port), "--no-access-log", "--log-level", "warning"]
    return Launch(name, argv, ready=lambda: http_ok(f"http://{LOOPBACK}:{port}/health"), env=env)


def _raw_noop(port: int, env: dict[str, str]) -> Launch:
    argv = [sys.executable, "-m", "bench.gateway_authorize", "--serve-raw", str(port)]
    return Launch("raw-noop", argv, ready=lambda: http_ok(f"http://{LOOPBACK}:{port}/"), env=env)


def _gateway_config(target: Path, upstream: str, authorizers: dict[str, str]) -> Path:
    """gateway/ with its own static file and a dynamic file of one router per variant."""
    source = gateway_dir()
    (target / "dynamic").mkdir(parents=True)
    shutil.copy(source / "traefik.yml", target / "traefik.yml")
    repo_dynamic = yaml.safe_load((source / "dynamic" / "routes.yml").read_text())
    forward_auth = repo_dynamic["http"]["middlewares"]["authorize"]["forwardAuth"]
    routers: dict[str, Any] = {
        "plain": {
            "rule": "PathPrefix(`/plain`)",
            "entryPoints": ["web"],
            "middlewares": ["strip"],
            "service": "upstream",
        }
    }
    middlewares: dict[str, Any] = {"strip": {"stripPrefix": {"prefixes": ["/plain"]}}}
    for prefix, address in authorizers.items():
        routers[prefix] = {
            "rule": f"PathPrefix(`/{prefix}`)",
            "entryPoints": ["web"],
            "middlewares": [f"auth-{prefix}", f"strip-{prefix}"],
            "service": "upstream",
        }
        middlewares[f"auth-{prefix}"] = {"forwardAuth": {**forward_auth, "address": address}}
        middlewares[f"strip-{prefix}"] = {"stripPrefix": {"prefixes": [f"/{prefix}"]}}
    dynamic = {
        "http": {
            "routers": routers,
            "middlewares": middlewares,
            "services": {"upstream": {"loadBalancer": {"servers": [{"url": upstream}]}}},
        }
    }
    (target / "dynamic" / "bench.yml").write_text(yaml.safe_dump(dynamic))
    return target


async def _grant(redis_url: str, rbac_url: str, signer: TokenSigner, user_id: str) -> None:
    """Register the `bench` service's route and grant it to the user through rbac's API."""
    openapi = {"paths": {"/items": {"get": {"x-access": "permission", "summary": "items"}}}}
    redis = create_redis(redis_url)
    try:
        await publish_manifest(redis, build_manifest("bench", openapi))
    finally:
        await redis.aclose()
    admin = {"Authorization": f"Bearer {signer.token(adm=True, exp=int(time.time()) + 3600)}"}
    async with httpx.AsyncClient(base_url=rbac_url, headers=admin, timeout=10) as http:
        role = {"code": "bench-reader", "name": "Bench", "permissions": ["bench:GET:/items"]}
        (await http.post("/roles", json=role)).raise_for_status()
        bound = await http.put(f"/users/{user_id}/roles", json={"roles": ["bench-reader"]})
        bound.raise_for_status()


def _wait_allowed(url: str, token: str, *, forwarded: bool) -> None:
    headers = {"Authorization": f"Bearer {token}", **(FORWARDED if forwarded else {})}
    deadline = time.monotonic() + 30
    while True:
        response = httpx.get(url, headers=headers, timeout=5)
        if response.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} still answers {response.status_code}: {response.text}")
        time.sleep(0.1)


@contextlib.contextmanager
def _stack(
    tmp: Path, signer: TokenSigner, user_token: str, user_id: str
) -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """Every process of the benchmark; yields each variant's URL and forwardAuth target port."""
    with ExitStack() as stack:
        redis_url = stack.enter_context(valkey_server(tmp / "valkey"))
        jwk = RSAAlgorithm.to_jwk(signer.private_key.public_key(), as_dict=True)
        jwks = json.dumps({"keys": [{**jwk, "kid": signer.kid, "use": "sig", "alg": "RS256"}]})
        ports = {name: free_port() for name in ("upstream", "noop", "raw", "rbac", "web", "ping")}
        env = {**os.environ, JWKS_ENV: jwks, "LOG_LEVEL": "WARNING"}
        app = "bench.gateway_authorize:noop_app"
        for name in ("upstream", "noop"):
            launch = _uvicorn(name, app, ports[name], env)
            stack.enter_context(running(launch, tmp / f"{name}.log"))
        stack.enter_context(running(_raw_noop(ports["raw"], env), tmp / "raw.log"))
        rbac_env = {
            **env,
            "ENVIRONMENT": "local",
            "REDIS_URL": redis_url,
            "RBAC_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'rbac.db'}",
            "AUTH_JWKS_URL": f"http://{LOOPBACK}:{ports['upstream']}/.well-known/jwks.json",
            "JWT_ISSUER": signer.issuer,
            "JWT_AUDIENCE": signer.audience,
        }
        subprocess.run(
            [sys.executable, "-m", "rbac.migrations"], env=rbac_env, check=True, capture_output=True
        )
        rbac = _uvicorn("rbac", "rbac.app:create_app", ports["rbac"], rbac_env, "--factory")
        stack.enter_context(running(rbac, tmp / "rbac.log"))
        rbac_url = f"http://{LOOPBACK}:{ports['rbac']}"
        asyncio.run(_grant(redis_url, rbac_url, signer, user_id))
        authorizers = {
            "bench": f"{rbac_url}/authorize",
            "noop": f"http://{LOOPBACK}:{ports['noop']}/authorize",
            "raw": f"http://{LOOPBACK}:{ports['raw']}/authorize",
        }
        gateway = _gateway_config(
            tmp / "gateway", f"http://{LOOPBACK}:{ports['upstream']}", authorizers
        )
        traefik = traefik_launch(
            tmp / "run" / "traefik.yml", ports["web"], ports["ping"], env, gateway
        )
        stack.enter_context(running(traefik, tmp / "traefik.log"))
        web = f"http://{LOOPBACK}:{ports['web']}"
        urls = {
            "a": f"http://{LOOPBACK}:{ports['upstream']}/items",
            "b": f"{web}/plain/items",
            "c": f"{web}/bench/items",
            "d": f"{web}/noop/items",
            "e": f"{web}/raw/items",
            "f": f"{authorizers['bench']}",
            "g": f"{authorizers['noop']}",
        }
        for variant, url in urls.items():
            _wait_allowed(url, user_token, forwarded=variant in DIRECT_TO_AUTHORIZER)
        yield urls, {"c": ports["rbac"], "d": ports["noop"], "e": ports["raw"]}


LABELS = {
    "a": "(a) direct to the service",
    "b": "(b) Traefik, no forwardAuth",
    "c": "(c) Traefik + forwardAuth → rbac `/authorize`",
    "d": "(d) Traefik + forwardAuth → no-op ASGI (uvicorn)",
    "e": "(e) Traefik + forwardAuth → no-op bare asyncio server",
    "f": "(f) rbac `/authorize` alone (no Traefik)",
    "g": "(g) no-op ASGI alone (no Traefik)",
}


def measure(seconds: int = DURATION_SECONDS) -> dict[tuple[str, int], Result]:
    signer = TokenSigner()
    user_id = "bench-user"
    token = signer.token(sub=user_id, name="bench", exp=int(time.time()) + 3600)
    results: dict[tuple[str, int], Result] = {}
    with (
        tempfile.TemporaryDirectory(prefix="bench-authorize-") as tmp,
        _stack(Path(tmp), signer, token, user_id) as (urls, auth_ports),
    ):
        for variant, url in urls.items():
            for connections in CONNECTIONS:
                direct = variant in DIRECT_TO_AUTHORIZER
                wrk(url, connections, token, WARMUP_SECONDS, forwarded=direct)
                port = auth_ports.get(variant)
                before = _time_wait(port) if port else 0
                result = wrk(url, connections, token, seconds, forwarded=direct)
                if port:
                    closed = _time_wait(port) - before
                    result = dataclasses.replace(result, closed_auth_connections=max(0, closed))
                results[variant, connections] = result
    return results


def report(results: dict[tuple[str, int], Result], seconds: int) -> str:
    lines = [
        "### Gateway decision (`bench/gateway_authorize.py`)",
        "",
        f"`uv run python -m bench gateway_authorize` (wrk, one thread, {seconds} s per cell after "
        f"a {WARMUP_SECONDS} s warm-up; `BENCH_SECONDS` changes it). The same authenticated "
        "`GET /items` of a non-admin user whose role grants it; the service is a minimal ASGI "
        "app so the figures isolate the gateway and the decision.",
        "",
        "| variant | conns | req/s | p50 ms | p99 ms | new auth conns / 100 req |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for variant, label in LABELS.items():
        for connections in CONNECTIONS:
            r = results[variant, connections]
            churn = (
                f"{100 * r.closed_auth_connections / r.requests:.1f}"
                if variant in ("c", "d", "e") and r.requests
                else "-"
            )
            lines.append(
                f"| {label} | {connections} | {r.requests_per_second:,.0f} | "
                f"{r.p50_ms:.2f} | {r.p99_ms:.2f} | {churn} |"
            )
    lines += ["", "| ratio | 1 conn | 16 conns |", "|---|---:|---:|"]
    ratios = [
        ("(d)/(b) throughput: the forwardAuth hop", "d", "b"),
        ("(c)/(d) throughput: our decision (target ≥ 0.90)", "c", "d"),
        ("(e)/(d) throughput: a bare server instead of uvicorn", "e", "d"),
        ("(f)/(g) throughput: our decision, servers alone", "f", "g"),
    ]
    for label, top, bottom in ratios:
        cells = [
            f"{results[top, c].requests_per_second / results[bottom, c].requests_per_second:.2f}"
            for c in CONNECTIONS
        ]
        lines.append(f"| {label} | {' | '.join(cells)} |")
    deltas = [f"{results['c', c].p50_ms - results['d', c].p50_ms:+.2f}" for c in CONNECTIONS]
    lines.append(f"| (c) - (d) p50 ms (target ≤ 0.10) | {' | '.join(deltas)} |")
    return "\n".join(lines) + "\n"


def run() -> str:
    """Markdown: the table of all variants and the ratios the issue asks for."""
    return report(measure(DURATION_SECONDS), DURATION_SECONDS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gateway_authorize")
    parser.add_argument("--serve-raw", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_raw:
        asyncio.run(_serve_raw(args.serve_raw))
        return 0
    print(run())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
