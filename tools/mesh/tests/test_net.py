"""Ports for servers of our own: below the kernel's ephemeral range, never handed out twice."""

import os
import socket
import subprocess
import sys
import time

from mesh.net import (
    CLAIM_SECONDS,
    LOOPBACK,
    LOWEST_PORT,
    _claim,
    _claims_dir,
    _ephemeral_start,
    free_port,
)


def test_a_free_port_is_below_the_range_outgoing_connections_take_their_ports_from() -> None:
    ports = [free_port() for _ in range(200)]

    assert all(LOWEST_PORT <= port < _ephemeral_start() for port in ports)


def test_ports_picked_before_their_servers_bind_are_all_different() -> None:
    ports = [free_port() for _ in range(500)]

    assert len(set(ports)) == len(ports)


def test_a_free_port_can_be_listened_on() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, free_port()))
        sock.listen()


def test_a_port_handed_out_by_one_process_is_not_handed_out_by_another() -> None:
    # Two processes at once, as two xdist workers or a test and the mesh it starts are: each
    # takes enough ports that, without a claim both see, they would share some.
    pick = "from mesh.net import free_port; print(*(free_port() for _ in range(500)))"
    children = [
        subprocess.Popen([sys.executable, "-c", pick], stdout=subprocess.PIPE, text=True)  # noqa: S603
        for _ in range(2)
    ]
    first, second = (set(map(int, child.communicate(timeout=120)[0].split())) for child in children)

    assert len(first) == len(second) == 500
    assert first.isdisjoint(second)


def test_a_claim_is_held_until_it_is_stale_and_then_taken_over_afresh() -> None:
    port = free_port()
    claim = _claims_dir() / str(port)

    assert not _claim(port)

    long_ago = time.time() - CLAIM_SECONDS - 1
    os.utime(claim, (long_ago, long_ago))
    assert _claim(port)
    assert not _claim(port)
