"""The stable front door of a `docker` deployment: a small HTTP/1.1 reverse proxy (stdlib only).

Why it exists: blue/green needs the function's host:port to stay the same while the container behind it
changes. The gateway owns the published port; each request is routed to the *current* upstream, chosen
per request (not per TCP connection), so client keep-alive connections move to the new version at once
and nothing in flight is cut. `set` switches the upstream and answers only when every request still
running on the old upstream has finished (drained), so the deployer can then stop the old container.

It runs inside its own hardened container (read-only root, no capabilities, non-root) from the same
air-gapped base image as the functions, so no extra package or registry is needed. Upstreams are DNS
names on the service's private network; every new upstream connection resolves again and tries every
address (Swarm `dnsrr` replicas), and a refused connect is retried until `--connect-wait` runs out, so a
restarting container is waited for instead of failing the request.

Run:  python3 gateway.py serve --listen 0.0.0.0:8080 --upstream fn:8080 --control /run/gw/control.sock
      python3 gateway.py set NAME:PORT --control /run/gw/control.sock      (prints the JSON reply)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import socket
import sys
import time
from dataclasses import dataclass, field

TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
TARGET = re.compile(rb"^[\x21-\x7e]+$")
VERSION = re.compile(rb"^HTTP/1\.[01]$")
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
              b"upgrade", b"expect", b"content-length"}
DNS_TTL = 1.0  # seconds an upstream name's addresses are reused (Swarm dnsrr tasks come and go)
POOL_MAX_IDLE = 4.0  # seconds an idle upstream connection is kept (the runtime's keep-alive is 75 s)
REASONS = {400: "Bad Request", 413: "Content Too Large", 431: "Request Header Fields Too Large",
           501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}


class BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass
class Config:
    upstream: str
    max_body: int = 6 * 1024 * 1024
    max_header: int = 64 * 1024
    timeout: float = 35.0  # upstream response deadline (function timeout + margin)
    connect_wait: float = 15.0  # how long a refused upstream is retried (restarts, rollouts)
    idle: float = 75.0  # client keep-alive idle timeout
    state_file: str | None = None


@dataclass
class Gateway:
    config: Config
    inflight: dict[str, int] = field(default_factory=dict)
    served: int = 0
    generation: int = 0
    # idle keep-alive connections per (upstream, address), and a short DNS cache per upstream name
    pool: dict[tuple[str, str], list[tuple[float, asyncio.StreamReader, asyncio.StreamWriter]]] = field(
        default_factory=dict)
    dns: dict[str, tuple[float, list[tuple[str, int]]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.upstream = self.config.upstream
        if self.config.state_file and os.path.exists(self.config.state_file):
            with open(self.config.state_file) as fh:
                saved = fh.read().strip()
            if saved:
                self.upstream = saved

    # ---- control -------------------------------------------------------------------------------
    async def switch(self, upstream: str, drain_timeout: float) -> dict[str, object]:
        previous, self.upstream = self.upstream, upstream
        self.generation += 1
        for key in [k for k in self.pool if k[0] != upstream]:
            for _, _, w in self.pool.pop(key):
                w.close()
        if self.config.state_file:
            tmp = self.config.state_file + ".tmp"
            with open(tmp, "w") as fh:
                fh.write(upstream + "\n")
            os.replace(tmp, self.config.state_file)
        deadline = time.monotonic() + drain_timeout
        while self._others_busy(upstream) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return {"ok": True, "previous": previous, "upstream": upstream, "generation": self.generation,
                "drained": not self._others_busy(upstream)}

    def _others_busy(self, upstream: str) -> bool:
        return any(n for u, n in self.inflight.items() if u != upstream)

    async def control(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            msg = json.loads(await reader.readline())
            if msg.get("op") == "set":
                reply = await self.switch(str(msg["upstream"]), float(msg.get("drain_timeout", 30)))
            else:
                reply = {"ok": True, "upstream": self.upstream, "inflight": self.inflight,
                         "served": self.served, "generation": self.generation}
        except (ValueError, KeyError) as exc:
            reply = {"ok": False, "error": str(exc)}
        writer.write(json.dumps(reply).encode() + b"\n")
        with contextlib.suppress(OSError):
            await writer.drain()
            writer.close()

    # ---- client side ---------------------------------------------------------------------------
    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        client_ip = peer[0] if isinstance(peer, tuple) else ""
        try:
            keep = True
            while keep:
                try:
                    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), self.config.idle)
                except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
                    return
                except asyncio.LimitOverrunError:
                    await self.reply(writer, 431, "request headers are too large")
                    return
                try:
                    keep = await self.exchange(head, reader, writer, client_ip)
                except BadRequest as exc:
                    await self.reply(writer, exc.status, exc.reason)
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def reply(self, writer: asyncio.StreamWriter, status: int, message: str) -> None:
        body = json.dumps({"error": message, "status": status, "source": "gateway"}).encode()
        writer.write(
            f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode() + body
        )
        with contextlib.suppress(ConnectionError):
            await writer.drain()

    async def exchange(self, head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                       client_ip: str) -> bool:
        lines = head[:-4].split(b"\r\n")
        parts = lines[0].split(b" ")
        if len(parts) != 3 or not TOKEN.match(parts[0]) or not TARGET.match(parts[1]) \
                or not VERSION.match(parts[2]):
            raise BadRequest(400, "malformed request line")
        method, target, version = parts
        headers: list[tuple[bytes, bytes]] = []
        for line in lines[1:]:
            name, sep, value = line.partition(b":")
            if not sep or not TOKEN.match(name):
                raise BadRequest(400, "malformed header line")
            headers.append((name, value.strip(b" \t")))
        get = {n.lower(): v for n, v in headers}
        conn = get.get(b"connection", b"").lower()
        keep = b"close" not in conn if version == b"HTTP/1.1" else b"keep-alive" in conn
        body = await self.read_body(method, get, reader, writer)
        forwarded = b"".join(n + b": " + v + b"\r\n" for n, v in headers if n.lower() not in HOP_BY_HOP
                             and n.lower() not in (b"x-forwarded-for", b"x-real-ip"))
        if body or method in (b"POST", b"PUT", b"PATCH"):
            forwarded += b"Content-Length: %d\r\n" % len(body)
        request = (method + b" " + target + b" HTTP/1.1\r\n" + forwarded
                   + b"X-Forwarded-For: " + client_ip.encode() + b"\r\nX-Real-IP: " + client_ip.encode()
                   + b"\r\n\r\n" + body)
        return await self.forward(method, request, writer) and keep

    async def read_body(self, method: bytes, get: dict[bytes, bytes], reader: asyncio.StreamReader,
                        writer: asyncio.StreamWriter) -> bytes:
        te, cl = get.get(b"transfer-encoding"), get.get(b"content-length")
        if te is not None and cl is not None:
            raise BadRequest(400, "both Transfer-Encoding and Content-Length")
        if te is not None and te.lower() != b"chunked":
            raise BadRequest(501, "only chunked transfer coding is supported")
        length = 0
        if cl is not None:
            if not cl.isdigit():
                raise BadRequest(400, "bad Content-Length")
            length = int(cl)
            if length > self.config.max_body:
                raise BadRequest(413, f"body over {self.config.max_body} bytes")
        if get.get(b"expect", b"").lower() == b"100-continue" and (length or te):
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            await writer.drain()
        if te is None:
            return await reader.readexactly(length) if length else b""
        chunks: list[bytes] = []
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            try:
                size = int(size_line.split(b";")[0].strip(), 16)
            except ValueError:
                raise BadRequest(400, "bad chunk size") from None
            if size == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers, ignored
                    pass
                return b"".join(chunks)
            total += size
            if total > self.config.max_body:
                raise BadRequest(413, f"body over {self.config.max_body} bytes")
            chunks.append(await reader.readexactly(size))
            await reader.readexactly(2)

    # ---- upstream side -------------------------------------------------------------------------
    async def resolve(self, upstream: str) -> list[tuple[str, int]]:
        now = time.monotonic()
        cached = self.dns.get(upstream)
        if cached and cached[0] > now:
            return cached[1]
        host, _, port = upstream.rpartition(":")
        infos = await asyncio.get_running_loop().getaddrinfo(host, int(port), type=socket.SOCK_STREAM)
        addrs = sorted({(str(i[4][0]), int(i[4][1])) for i in infos})
        self.dns[upstream] = (now + DNS_TTL, addrs)
        return addrs

    async def connect(self) -> tuple[str, str, asyncio.StreamReader, asyncio.StreamWriter]:
        """(upstream, address, reader, writer): a fresh idle pooled connection, else a new one."""
        deadline = time.monotonic() + self.config.connect_wait
        delay = 0.02
        while True:
            upstream = self.upstream
            try:
                addrs = await self.resolve(upstream)
            except OSError:
                addrs = []
            addrs = random.sample(addrs, len(addrs))
            for host, port in addrs:
                address = f"{host}:{port}"
                idle = self.pool.get((upstream, address), [])
                while idle:
                    since, r, w = idle.pop()
                    # An idle connection is reused only while young (well under the server's keep-alive
                    # timeout) and not closed by the server, so a request never races a server-side close.
                    if time.monotonic() - since < POOL_MAX_IDLE and not r.at_eof() and not w.is_closing():
                        return upstream, address, r, w
                    w.close()
                with contextlib.suppress(OSError, asyncio.TimeoutError):
                    r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout=2.0)
                    sock = w.get_extra_info("socket")
                    if sock is not None:
                        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    return upstream, address, r, w
            self.dns.pop(upstream, None)  # re-resolve: the container may have restarted elsewhere
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConnectionRefusedError(f"no upstream answered at {upstream}")
            await asyncio.sleep(min(delay, remaining))
            delay = min(delay * 2, 0.5)

    async def forward(self, method: bytes, request: bytes, writer: asyncio.StreamWriter) -> bool:
        # A refused connect is retried (in `connect`); a request that reached the upstream is never sent
        # twice: a handler that crashed its process must not be run again by the proxy (query of death).
        try:
            upstream, address, up_r, up_w = await self.connect()
        except ConnectionRefusedError:
            await self.reply(writer, 503, "the function is not answering (restarting or stopped)")
            return False
        self.inflight[upstream] = self.inflight.get(upstream, 0) + 1
        started = False
        reusable = False
        try:
            up_w.write(request)
            await up_w.drain()
            status, head = await asyncio.wait_for(self.response_head(up_r), self.config.timeout)
            started = True
            keep, reusable = await self.relay(method, status, head, up_r, writer)
            self.served += 1
            return keep
        except asyncio.TimeoutError:
            if started:
                return False
            await self.reply(writer, 504, "the function did not answer in time")
            return False
        except (ConnectionError, asyncio.IncompleteReadError, OSError):
            if started:
                return False  # the response was cut: the client sees a truncated body and a close
            await self.reply(writer, 502, "the function closed the connection without answering")
            return False
        finally:
            self.inflight[upstream] -= 1
            if not self.inflight[upstream]:
                del self.inflight[upstream]
            if reusable and upstream == self.upstream:
                self.pool.setdefault((upstream, address), []).append((time.monotonic(), up_r, up_w))
            else:
                with contextlib.suppress(Exception):
                    up_w.close()

    @staticmethod
    async def response_head(up_r: asyncio.StreamReader) -> tuple[int, bytes]:
        while True:
            head = await up_r.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            if status >= 200 or status == 101:
                return status, head

    async def relay(self, method: bytes, status: int, head: bytes, up_r: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> tuple[bool, bool]:
        """Relay one response; returns (client connection may stay open, upstream connection reusable)."""
        lines = head[:-4].split(b"\r\n")
        upstream_keep = lines[0].startswith(b"HTTP/1.1")
        out = [b"HTTP/1.1 " + lines[0].split(b" ", 1)[1]]  # we frame the reply ourselves: speak 1.1
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            low = name.strip().lower()
            if low == b"connection" and b"close" in value.lower():
                upstream_keep = False
            if low == b"content-length":
                length = int(value.strip())
            elif low == b"transfer-encoding":
                chunked = b"chunked" in value.lower()
            if low in HOP_BY_HOP:
                continue
            out.append(line)
        no_body = method == b"HEAD" or status in (204, 304) or 100 <= status < 200
        if no_body:
            framed = True
            if length is not None:
                out.append(b"Content-Length: %d" % length)
        elif chunked:
            out.append(b"Transfer-Encoding: chunked")
            framed = True
        elif length is not None:
            out.append(b"Content-Length: %d" % length)
            framed = True
        else:
            framed = False
        out.append(b"Connection: keep-alive" if framed else b"Connection: close")
        writer.write(b"\r\n".join(out) + b"\r\n\r\n")
        if no_body:
            pass
        elif chunked:
            while True:
                size_line = await up_r.readuntil(b"\r\n")
                writer.write(size_line)
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    while True:
                        trailer = await up_r.readuntil(b"\r\n")
                        writer.write(trailer)
                        if trailer == b"\r\n":
                            break
                    break
                writer.write(await up_r.readexactly(size + 2))
                await writer.drain()
        elif length is not None:
            remaining = length
            while remaining:
                data = await up_r.read(min(remaining, 1 << 16))
                if not data:
                    raise asyncio.IncompleteReadError(b"", remaining)
                writer.write(data)
                remaining -= len(data)
                await writer.drain()
        else:
            while data := await up_r.read(1 << 16):
                writer.write(data)
                await writer.drain()
        await writer.drain()
        return framed, framed and upstream_keep


async def serve(args: argparse.Namespace) -> None:
    gateway = Gateway(Config(upstream=args.upstream, max_body=args.max_body, timeout=args.timeout,
                             connect_wait=args.connect_wait, state_file=args.state_file))
    host, _, port = args.listen.rpartition(":")
    server = await asyncio.start_server(gateway.client, host or "0.0.0.0", int(port),
                                        limit=gateway.config.max_header, backlog=1024, reuse_address=True)
    control = await asyncio.start_unix_server(gateway.control, args.control)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    import signal

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(json.dumps({"gateway": "listening", "listen": args.listen, "upstream": gateway.upstream}),
          flush=True)
    async with server, control:
        await stop.wait()


def set_upstream(control: str, upstream: str, drain_timeout: float) -> dict[str, object]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(drain_timeout + 10)
        sock.connect(control)
        sock.sendall(json.dumps({"op": "set", "upstream": upstream, "drain_timeout": drain_timeout}).encode()
                     + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    reply: dict[str, object] = json.loads(data)
    return reply


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gateway")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--listen", default="0.0.0.0:8080")
    s.add_argument("--upstream", required=True)
    s.add_argument("--control", required=True)
    s.add_argument("--state-file")
    s.add_argument("--max-body", type=int, default=6 * 1024 * 1024)
    s.add_argument("--timeout", type=float, default=35.0)
    s.add_argument("--connect-wait", type=float, default=15.0)
    c = sub.add_parser("set")
    c.add_argument("upstream")
    c.add_argument("--control", required=True)
    c.add_argument("--drain-timeout", type=float, default=30.0)
    args = parser.parse_args(argv)
    if args.cmd == "serve":
        asyncio.run(serve(args))
        return 0
    reply = set_upstream(args.control, args.upstream, args.drain_timeout)
    print(json.dumps(reply), flush=True)
    return 0 if reply.get("ok") and reply.get("drained") else 1


if __name__ == "__main__":
    sys.exit(main())
