"""Loopback ports and polling for readiness."""

import socket
import time
from collections.abc import Callable

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """A port nobody listens on right now (the kernel's choice, released at once)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


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
