"""Loopback ports and polling for readiness."""

import os
import random
import socket
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

LOOPBACK = "127.0.0.1"


# Ports are picked below the kernel's ephemeral range: a port the kernel chose for a listener
# (bind to 0) and released comes from that range, where any outgoing connection of any process
# may take it as its source port before our server binds it (seen: uvicorn's "address already
# in use" while a benchmark ran beside the e2e suite). Below the range only listeners compete.
LOWEST_PORT = 10_000
_handed_out: set[int] = set()
_random = random.SystemRandom()
# A port handed out is claimed for other processes too (a file per port): a mesh picks its ports
# up front and binds some of them a minute later, while the tests of another xdist worker, or
# another mesh, pick theirs (seen: Traefik's "address already in use" on a port a parallel test
# had picked in between). A claim older than this is free again: by then its server listens,
# which `port_is_free` sees, or never will.
CLAIM_SECONDS = 600.0


def _claims_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"mesh-ports-{os.getuid()}"


def _claim(port: int) -> bool:
    """Claim `port` against every process of this user; False when another holds it."""
    claims = _claims_dir()
    claim = claims / str(port)
    try:
        claims.mkdir(mode=0o700, exist_ok=True)
        os.close(os.open(claim, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        return _take_if_stale(claim)
    except OSError:
        pass  # no writable temp dir: this process's own memory is the only claim
    return True


def _take_if_stale(claim: Path) -> bool:
    # Two processes taking over one stale claim in the same instant would both have it: as
    # unlikely as the two picks of one random port that claims are here to keep apart.
    try:
        if time.time() - claim.stat().st_mtime < CLAIM_SECONDS:
            return False
        os.utime(claim)
    except OSError:
        return False
    return True


def _ephemeral_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768


def free_port() -> int:
    """A loopback port nobody listens on right now, below the ephemeral range and not handed
    out in the last minutes by any process of this user (several are picked before their
    servers bind them)."""
    highest = _ephemeral_start() - 1
    if highest <= LOWEST_PORT:  # an unusual range: fall back to the kernel's choice
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((LOOPBACK, 0))
            chosen: int = sock.getsockname()[1]
            return chosen
    for _ in range(1000):
        port = _random.randint(LOWEST_PORT, highest)
        if port not in _handed_out and port_is_free(port) and _claim(port):
            _handed_out.add(port)
            return port
    raise OSError(f"no free loopback port between {LOWEST_PORT} and {highest}")


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOOPBACK, port))
        except OSError:
            return False
        return True


def poll_until(
    check: Callable[[], None],
    timeout: float,
    interval: float = 0.1,
    abort: Callable[[], None] | None = None,
) -> None:
    """Call `check` until it returns without raising; re-raise its last error after `timeout`.

    `abort` runs before every attempt and may raise to stop waiting early (a dead process).
    """
    deadline = time.monotonic() + timeout
    while True:
        if abort is not None:
            abort()
        try:
            check()
        except Exception:
            if time.monotonic() >= deadline:
                raise
            time.sleep(interval)
        else:
            return


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    """Return once something accepts connections on the loopback port."""

    def connect() -> None:
        with socket.create_connection((LOOPBACK, port), timeout=0.5):
            pass

    poll_until(connect, timeout, interval=0.05)
