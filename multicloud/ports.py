"""Is a TCP port on this host free? Asked before a deploy binds one, so a port another program holds
fails at once, naming the port, instead of after a server or container has been started."""

from __future__ import annotations

import socket


def port_taken(host: str, port: int) -> bool:
    """Whether host:port cannot be bound here now (bound as the servers bind: SO_REUSEADDR, no REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            return True
    return False
