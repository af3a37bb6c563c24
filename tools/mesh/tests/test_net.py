"""Ports for servers of our own: below the kernel's ephemeral range, never handed out twice."""

import socket

from mesh.net import LOOPBACK, LOWEST_PORT, _ephemeral_start, free_port


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
