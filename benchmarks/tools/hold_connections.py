#!/usr/bin/env python3
"""Holds many idle connections to a RESP server, for benchmarks/memory.sh.

usage: hold_connections.py PORT COUNT [COMMAND ARG...]

Opens COUNT connections to 127.0.0.1:PORT (in batches, so a short listen backlog is not overrun),
prints "connected COUNT", and waits for a line on standard input. Then every connection sends one
request (PING unless a command is given; a command's reply must be its last argument as a bulk
string, as for ECHO x or RUN echo x) and reads the reply; prints "answered COUNT" and waits for
another line (or end of input) before closing everything. It runs as its own process because the
open-file limit is per process.
"""
import selectors
import socket
import sys

BATCH = 500


def encode(command):
    """The request as a RESP multibulk, and the reply it must get."""
    request = f"*{len(command)}\r\n" + "".join(f"${len(arg)}\r\n{arg}\r\n" for arg in command)
    reply = "+PONG\r\n" if command == ["PING"] else f"${len(command[-1])}\r\n{command[-1]}\r\n"
    return request.encode(), reply.encode()


def connect_batch(port, count):
    """Starts `count` non-blocking connects and waits until every one is established."""
    selector = selectors.DefaultSelector()
    pending = []
    for _ in range(count):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        sock.connect_ex(("127.0.0.1", port))
        selector.register(sock, selectors.EVENT_WRITE)
        pending.append(sock)
    waiting = len(pending)
    while waiting:
        for key, _ in selector.select(timeout=30) or fail("connects timed out"):
            error = key.fileobj.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if error:
                fail(f"connect failed: {error}")
            selector.unregister(key.fileobj)
            waiting -= 1
    selector.close()
    return pending


def request_all(connections, request, expected):
    """Sends `request` on every connection and reads each reply, which must be `expected`."""
    selector = selectors.DefaultSelector()
    for sock in connections:
        sock.send(request)
        selector.register(sock, selectors.EVENT_READ, bytearray())
    waiting = len(connections)
    while waiting:
        for key, _ in selector.select(timeout=30) or fail("replies timed out"):
            received = key.data
            chunk = key.fileobj.recv(64)
            if not chunk:
                fail("the server closed a connection")
            received += chunk
            if len(received) >= len(expected):
                if bytes(received) != expected:
                    fail(f"unexpected reply {bytes(received)!r}")
                selector.unregister(key.fileobj)
                waiting -= 1
    selector.close()


def fail(message):
    print(f"hold_connections: {message}", file=sys.stderr, flush=True)
    sys.exit(1)


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    request, expected = encode(sys.argv[3:] or ["PING"])
    connections = []
    while len(connections) < count:
        connections += connect_batch(port, min(BATCH, count - len(connections)))
    print(f"connected {len(connections)}", flush=True)
    sys.stdin.readline()
    request_all(connections, request, expected)
    print(f"answered {len(connections)}", flush=True)
    sys.stdin.readline()
    for sock in connections:
        sock.close()


if __name__ == "__main__":
    main()
