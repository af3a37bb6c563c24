"""Auth: login latency at the target load, and the most logins/s the service can take.

Runs the auth service as a real uvicorn process (one worker) on an embedded Valkey and a SQLite
file. Every login is the full client flow (`GET /keys/public`, RSA-OAEP encryption in the
client, `POST /login`) and pays for Argon2id (m=19 MiB, t=2, p=1), RSA-OAEP decryption and an
RS256 signature. Three phases, one run:

1. one client, logins back to back: the cost of a login with nothing queued;
2. the target load: 20 concurrent clients whose logins arrive at random (a Poisson process) at
   5 % above the 60/s target in aggregate. Arrivals do not wait for earlier logins (open loop),
   and each latency counts from the moment the login was due, so a service that falls behind
   shows it in the percentiles instead of hiding it by slowing the clients down;
3. saturation: the same 20 clients each starting the next login as soon as the last one
   answers (closed loop), which measures the most logins/s the service sustains.

    uv run python -m bench.auth_login
"""

import asyncio
import base64
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import rsa

from auth.keys import KeyRing
from auth.settings import AuthSettings
from auth.users.passwords import Passwords
from bench.machine import describe
from bench.scale import sized
from mesh.net import free_port, wait_for_port
from testkit.auth_client import encrypt_password
from testkit.valkey import valkey_server

CLIENTS = 20
SEQUENTIAL_LOGINS = sized(30, 3)
TARGET_P95_MS = 150.0
TARGET_RATE = 60.0
# Offered above the target so that "sustained ≥ 60/s" does not rest on rounding.
OFFERED_RATE = TARGET_RATE * 1.05
OPEN_LOOP_SECONDS = sized(20.0, 1.0)
SATURATION_SECONDS = sized(10.0, 1.0)
HASH_ROUNDS = sized(30, 2)
RSA_ROUNDS = sized(100, 5)
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "benchmark admin password"  # noqa: S105 - a throwaway local account


@dataclass(frozen=True)
class Login:
    """Timings of one login, in seconds."""

    flow: float  # from when the login was due (open loop) or started, to the tokens
    post: float  # `POST /login` alone


@dataclass(frozen=True)
class Phase:
    logins: list[Login]
    elapsed: float
    cpu_seconds: float
    client_cpu_seconds: float

    @property
    def rate(self) -> float:
        return len(self.logins) / self.elapsed

    @property
    def cpu_ms_per_login(self) -> float:
        return self.cpu_seconds / len(self.logins) * 1000

    @property
    def client_cpu_ms_per_login(self) -> float:
        return self.client_cpu_seconds / len(self.logins) * 1000

    def percentile_ms(self, fraction: float, *, post: bool = False) -> float:
        values = [login.post if post else login.flow for login in self.logins]
        return percentile(values, fraction) * 1000


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * len(ordered)) - 1))
    return ordered[index]


def arrival_schedule(
    rate: float, seconds: float, clients: int, rng: random.Random
) -> list[list[float]]:
    """Each client's due times (seconds from the start) for Poisson arrivals at `rate` in all.

    A Poisson process with a known count is that many uniform points, so the run offers exactly
    `rate * seconds` logins; dealing them out in turn gives every client the same share.
    """
    arrivals = sorted(rng.uniform(0, seconds) for _ in range(round(rate * seconds)))
    return [arrivals[index::clients] for index in range(clients)]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` so far (fields 14 and 15 of /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _Connection:
    """One keep-alive HTTP/1.1 connection, as lean as a client can be.

    The load generator shares the machine with the service; a general-purpose client would
    spend more CPU per login than the service does outside the hash, and measure itself.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> "_Connection":
        return cls(*await asyncio.open_connection("127.0.0.1", port))

    async def request(self, method: str, path: str, body: bytes = b"") -> dict[str, object]:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line, *header_lines = (await self.reader.readuntil(b"\r\n\r\n")).split(b"\r\n")
        length = 0
        for line in header_lines:
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        payload = await self.reader.readexactly(length)
        if status_line.split()[1] != b"200":
            raise RuntimeError(f"{method} {path}: {status_line.decode()} {payload[:300]!r}")
        answer: dict[str, object] = json.loads(payload)
        return answer

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


async def _login(connection: _Connection, due: float | None = None) -> Login:
    started = time.perf_counter() if due is None else due
    key = await connection.request("GET", "/keys/public")
    sealed = encrypt_password(
        str(key["public_key"]), ADMIN_PASSWORD, str(key["nonce"]), username=ADMIN_USERNAME
    )
    body = json.dumps({"username": ADMIN_USERNAME, "password": sealed}).encode()
    posted = time.perf_counter()
    await connection.request("POST", "/login", body)
    done = time.perf_counter()
    return Login(flow=done - started, post=done - posted)


async def _sequential(connection: _Connection, pid: int) -> Phase:
    cpu, client_cpu, started = _cpu_seconds(pid), time.process_time(), time.perf_counter()
    logins = [await _login(connection) for _ in range(SEQUENTIAL_LOGINS)]
    elapsed = time.perf_counter() - started
    return Phase(logins, elapsed, _cpu_seconds(pid) - cpu, time.process_time() - client_cpu)


async def _open_loop(connections: list[_Connection], pid: int) -> Phase:
    schedule = arrival_schedule(OFFERED_RATE, OPEN_LOOP_SECONDS, CLIENTS, random.Random(7))
    logins: list[Login] = []
    origin = time.perf_counter() + 0.05

    async def client(connection: _Connection, due_times: list[float]) -> None:
        for offset in due_times:
            due = origin + offset
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
            logins.append(await _login(connection, due))

    cpu, client_cpu = _cpu_seconds(pid), time.process_time()
    await asyncio.gather(*map(client, connections, schedule))
    elapsed = time.perf_counter() - origin
    return Phase(logins, elapsed, _cpu_seconds(pid) - cpu, time.process_time() - client_cpu)


async def _closed_loop(connections: list[_Connection], pid: int) -> Phase:
    logins: list[Login] = []
    deadline = time.perf_counter() + SATURATION_SECONDS

    async def client(connection: _Connection) -> None:
        while time.perf_counter() < deadline:
            logins.append(await _login(connection))

    cpu, client_cpu, started = _cpu_seconds(pid), time.process_time(), time.perf_counter()
    await asyncio.gather(*map(client, connections))
    elapsed = time.perf_counter() - started
    return Phase(logins, elapsed, _cpu_seconds(pid) - cpu, time.process_time() - client_cpu)


async def _measure(port: int, pid: int, *, open_loop_only: bool = False) -> dict[str, Phase]:
    connections = [await _Connection.open(port) for _ in range(CLIENTS)]
    try:
        for connection in connections:
            await _login(connection)
        if open_loop_only:
            return {"open": await _open_loop(connections, pid)}
        return {
            "sequential": await _sequential(connections[0], pid),
            "open": await _open_loop(connections, pid),
            "closed": await _closed_loop(connections, pid),
        }
    finally:
        for connection in connections:
            await connection.close()


def _run_service(
    root: Path, redis_url: str, stack: ExitStack, setting: tuple[int, int]
) -> tuple[int, int]:
    memory_mib, time_cost = setting
    env = {
        **os.environ,
        "AUTH_ARGON2_MEMORY_KIB": str(memory_mib * 1024),
        "AUTH_ARGON2_TIME_COST": str(time_cost),
        "ENVIRONMENT": "local",
        "LOG_LEVEL": "WARNING",
        "LOG_JSON": "true",
        "REDIS_URL": redis_url,
        "AUTH_DATABASE_URL": f"sqlite+aiosqlite:///{root / 'auth.sqlite3'}",
        "AUTH_STATE_DIR": str(root / "auth-state"),
        "ADMIN_PASSWORD": ADMIN_PASSWORD,
        # Every client here is one address asking for thousands of keys a minute.
        "AUTH_PUBLIC_KEY_REQUESTS_PER_MINUTE": "1000000",
    }
    for module in ("auth.migrations", "auth.seed"):
        subprocess.run([sys.executable, "-m", module], env=env, check=True, cwd=root)  # noqa: S603
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - fixed interpreter and module
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "auth.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
        ],
        env=env,
        cwd=root,
    )
    stack.callback(process.wait, timeout=30)
    stack.callback(process.terminate)
    wait_for_port(port, timeout=60)
    return port, process.pid


# OWASP's Password Storage Cheat Sheet rates these Argon2id settings (MiB, passes, one lane) as
# equally strong, trading memory for passes; the service's default is the second. Its 7 MiB
# setting is below the service's 8 MiB floor (`AUTH_ARGON2_MEMORY_KIB`) and is left out.
OWASP_EQUIVALENTS = ((46, 1), (19, 2), (12, 3), (9, 4))
# The service's own default, so the bench follows it if it ever changes.
DEFAULT_SETTING = (
    AuthSettings.model_fields["argon2_memory_kib"].default // 1024,
    AuthSettings.model_fields["argon2_time_cost"].default,
)
# The equally strong setting that costs the least CPU here, run at the same target load.
LEANEST_SETTING = (9, 4)


@dataclass(frozen=True)
class HashCost:
    """CPU of one Argon2id verification as the service makes it, in ms."""

    memory_mib: int
    time_cost: int
    user_ms: float
    system_ms: float

    @property
    def total_ms(self) -> float:
        return self.user_ms + self.system_ms


@dataclass(frozen=True)
class CryptoCost:
    """The hash at every OWASP-equivalent setting, and one RSA-OAEP decryption with a 3072-bit
    key (a login makes two such private-key operations: this and the RS256 signature), which
    tells machines apart where the hash alone does not."""

    hashes: tuple[HashCost, ...]
    rsa_ms: float

    @property
    def default(self) -> HashCost:
        return next(
            cost for cost in self.hashes if (cost.memory_mib, cost.time_cost) == DEFAULT_SETTING
        )


def measure_hashes(rounds: int = HASH_ROUNDS) -> tuple[HashCost, ...]:
    """The service's own `Passwords.verify` at each OWASP setting, one verification at a time.

    The settings take turns round by round, so a machine that slows down or speeds up during
    the run weighs on all of them alike and their ratios stay comparable.
    """
    settings = [
        Passwords(memory_kib=memory_mib * 1024, time_cost=time_cost, parallelism=1)
        for memory_mib, time_cost in OWASP_EQUIVALENTS
    ]
    user = [0.0] * len(settings)
    system = [0.0] * len(settings)

    async def verify_all() -> None:
        stored = [await passwords.hash(ADMIN_PASSWORD) for passwords in settings]
        for _ in range(rounds):
            for index, passwords in enumerate(settings):
                before = resource.getrusage(resource.RUSAGE_SELF)
                await passwords.verify(stored[index], ADMIN_PASSWORD)
                after = resource.getrusage(resource.RUSAGE_SELF)
                user[index] += after.ru_utime - before.ru_utime
                system[index] += after.ru_stime - before.ru_stime

    asyncio.run(verify_all())
    return tuple(
        HashCost(
            memory_mib=memory_mib,
            time_cost=time_cost,
            user_ms=user[index] / rounds * 1000,
            system_ms=system[index] / rounds * 1000,
        )
        for index, (memory_mib, time_cost) in enumerate(OWASP_EQUIVALENTS)
    )


def measure_rsa_decryption(rounds: int = RSA_ROUNDS) -> float:
    """CPU ms of the service's own `KeyRing.decrypt_sync` on a client-sealed envelope."""
    keys = KeyRing(private_key=rsa.generate_private_key(public_exponent=65537, key_size=3072))
    sealed = base64.b64decode(
        encrypt_password(keys.public_pem, ADMIN_PASSWORD, "n" * 22, username=ADMIN_USERNAME)
    )
    started = time.process_time()
    for _ in range(rounds):
        keys.decrypt_sync(sealed)
    return (time.process_time() - started) / rounds * 1000


def report(
    phases: dict[str, Phase], leanest: Phase, crypto: CryptoCost, *, load_before: float
) -> str:
    """The README section: the target-load table first, then what the figures rest on.

    `phases` ran at the default Argon2id setting; `leanest` is the target load again at
    `LEANEST_SETTING`, measured in the same run.
    """
    sequential, open_loop, closed = phases["sequential"], phases["open"], phases["closed"]
    p95 = open_loop.percentile_ms(0.95)
    p95_ok = p95 <= TARGET_P95_MS
    rate_ok = open_loop.rate >= TARGET_RATE and closed.rate >= TARGET_RATE

    def verdict(ok: bool) -> str:
        return "meets" if ok else "misses"

    cpus = os.cpu_count() or 0
    busy = OFFERED_RATE / closed.rate
    hash_cost = crypto.default
    lean_memory, lean_passes = LEANEST_SETTING
    lean_p95 = leanest.percentile_ms(0.95)
    hash_cpus = OFFERED_RATE * hash_cost.total_ms / 1000
    lines = [
        "### Auth login",
        "",
        f"One uvicorn worker (SQLite, embedded Valkey) on {describe()}, "
        "the load generator on the same machine. A login is the whole client flow: "
        "`GET /keys/public`, RSA-OAEP encryption in the client, `POST /login` (Argon2id "
        f"m={hash_cost.memory_mib} MiB t={hash_cost.time_cost} p=1 through libsodium, "
        "RSA-OAEP-SHA256 decryption with a 3072-bit key, "
        "an RS256 signature). Latencies of the target load count from the moment each login "
        "was due, so queueing shows in them.",
        "",
        f"| {CLIENTS} concurrent clients, Poisson arrivals at {OFFERED_RATE:.0f} logins/s "
        f"for {OPEN_LOOP_SECONDS:.0f} s | value | target |",
        "|---|---|---|",
        f"| login p50 | {open_loop.percentile_ms(0.5):.1f} ms | |",
        f"| login p95 | {p95:.1f} ms | ≤ {TARGET_P95_MS:.0f} ms ({verdict(p95_ok)}) |",
        f"| login p99 | {open_loop.percentile_ms(0.99):.1f} ms | |",
        f"| `POST /login` alone, p95 | {open_loop.percentile_ms(0.95, post=True):.1f} ms | |",
        f"| logins/s sustained | {open_loop.rate:.1f} | ≥ {TARGET_RATE:.0f} ({verdict(rate_ok)}) |",
        f"| logins | {len(open_loop.logins)} | |",
        f"| service CPU per login (all threads) | {open_loop.cpu_ms_per_login:.1f} ms | |",
        f"| load generator CPU per login | {open_loop.client_cpu_ms_per_login:.1f} ms | |",
        "",
        "| for comparison | value |",
        "|---|---|",
        f"| one client, login p50 | {sequential.percentile_ms(0.5):.1f} ms |",
        f"| one client, service CPU per login | {sequential.cpu_ms_per_login:.1f} ms |",
        f"| one Argon2id verification, CPU (user + kernel) | {hash_cost.user_ms:.1f} + "
        f"{hash_cost.system_ms:.1f} ms |",
        f"| one RSA-OAEP decryption (3072-bit key), CPU | {crypto.rsa_ms:.2f} ms |",
        f"| saturation: {CLIENTS} clients back to back, logins/s | {closed.rate:.1f} |",
        f"| saturation: login p95 | {closed.percentile_ms(0.95):.1f} ms |",
        f"| machine load average at start | {load_before:.1f} |",
        "",
        "| Argon2id settings OWASP rates as equally strong | CPU per verification "
        "(user + kernel) | vs the default |",
        "|---|---|---|",
        *[
            f"| m={cost.memory_mib} MiB t={cost.time_cost} p=1"
            f"{' (the default)' if cost is hash_cost else ''} | {cost.user_ms:.1f} + "
            f"{cost.system_ms:.1f} ms | {cost.total_ms / hash_cost.total_ms:.2f} |"
            for cost in crypto.hashes
        ],
        "",
        "The settings trade memory for passes; measured in turns in one run. The kernel's share "
        "grows with the memory, which libsodium maps and populates afresh for every hash. The "
        "default is OWASP's headline setting; `AUTH_ARGON2_MEMORY_KIB` and "
        "`AUTH_ARGON2_TIME_COST` choose another, and stored hashes are upgraded at their next "
        "login.",
        "",
        f"| the same target load at m={lean_memory} MiB t={lean_passes} p=1, in the same run "
        "| value | target |",
        "|---|---|---|",
        f"| login p50 | {leanest.percentile_ms(0.5):.1f} ms | |",
        f"| login p95 | {lean_p95:.1f} ms | ≤ {TARGET_P95_MS:.0f} ms "
        f"({verdict(lean_p95 <= TARGET_P95_MS)}) |",
        f"| logins/s sustained | {leanest.rate:.1f} | ≥ {TARGET_RATE:.0f} "
        f"({verdict(leanest.rate >= TARGET_RATE)}) |",
        f"| service CPU per login (all threads) | {leanest.cpu_ms_per_login:.1f} ms | |",
        "",
        "Reproduce: `uv run python -m bench auth_login` (or `make bench`).",
        "",
        'Two readings of "20 concurrent clients" are possible. Back to back (saturation), '
        "20 logins are always in flight and each waits for the ones ahead of it: by Little's "
        "law the mean latency is 20 ÷ the rate, so a p95 of 150 ms that way needs about 130 "
        "logins/s. The table's reading is 20 clients producing the target rate between them.",
    ]
    if not (p95_ok and rate_ok):
        lines += [
            "",
            f"Why the target is missed here: the offered rate is {busy:.0%} of what the service "
            f"sustains at saturation on this machine, and a queue that busy waits long. The "
            f"hash is the floor: {hash_cost.total_ms:.1f} ms of CPU per verification, "
            f"{hash_cost.system_ms:.1f} ms of it in the kernel, because libsodium maps its "
            f"{hash_cost.memory_mib} MiB afresh for every hash with `MAP_POPULATE` and the "
            "kernel populates it in 4 KiB pages (transparent huge pages set to `always` on the "
            "host would map it in 2 MiB ones). "
            f"At {OFFERED_RATE:.0f} logins/s the hashes alone keep {hash_cpus:.2f} of the "
            f"{cpus} CPUs busy, before any other work of the service, its Redis or the load "
            "generator. The service's CPU per login beyond the hash is the HTTP, Redis and SQL "
            "work of two requests. More cores or instances scale logins linearly; the table "
            f"above shows the same load at m={lean_memory} MiB t={lean_passes}.",
        ]
    return "\n".join(lines) + "\n"


def _measure_at(setting: tuple[int, int], *, open_loop_only: bool) -> dict[str, Phase]:
    """A fresh service, Valkey and database at one Argon2id setting, measured under load."""
    with tempfile.TemporaryDirectory(prefix="bench-auth-") as tmp, ExitStack() as stack:
        root = Path(tmp)
        redis_url = stack.enter_context(valkey_server(root / "valkey"))
        port, pid = _run_service(root, redis_url, stack, setting)
        return asyncio.run(_measure(port, pid, open_loop_only=open_loop_only))


def run() -> str:
    crypto = CryptoCost(hashes=measure_hashes(), rsa_ms=measure_rsa_decryption())
    load_before = os.getloadavg()[0]
    phases = _measure_at(DEFAULT_SETTING, open_loop_only=False)
    leanest = _measure_at(LEANEST_SETTING, open_loop_only=True)["open"]
    return report(phases, leanest, crypto, load_before=load_before)


if __name__ == "__main__":
    sys.stdout.write(run())
