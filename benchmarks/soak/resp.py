"""Minimal RESP2 helpers shared by the soak verifier and the churn client (Python 3.11, stdlib only).

As a program: `python3 resp.py info PORT [SECTION]` prints the server's INFO text, so the shell
scripts can sample it without redis-cli.
"""

import socket
import sys
import time


class ReplyError(Exception):
    """A reply was missing, late, cut short or not what was expected."""


def encode(*args: bytes | str) -> bytes:
    """A multibulk request, as client libraries send it."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg.encode() if isinstance(arg, str) else arg
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


def bulk(data: bytes | str) -> bytes:
    """A bulk string reply."""
    data = data.encode() if isinstance(data, str) else data
    return b"$%d\r\n%s\r\n" % (len(data), data)


def connect(port: int, timeout: float = 10.0) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


class Reader:
    """Reads replies from one socket with a deadline per call, keeping bytes that arrived early."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.pending = bytearray()

    def _fill(self, deadline: float) -> None:
        left = deadline - time.monotonic()
        if left <= 0:
            raise ReplyError(f"no reply before the deadline; have {bytes(self.pending[:120])!r}")
        self.sock.settimeout(left)
        try:
            chunk = self.sock.recv(1 << 16)
        except TimeoutError:
            raise ReplyError(f"no reply before the deadline; have {bytes(self.pending[:120])!r}") from None
        if not chunk:
            raise ReplyError(f"the server closed the connection; have {bytes(self.pending[:120])!r}")
        self.pending += chunk

    def exactly(self, count: int, timeout: float) -> bytes:
        """The next `count` bytes, whatever they are."""
        deadline = time.monotonic() + timeout
        while len(self.pending) < count:
            self._fill(deadline)
        data = bytes(self.pending[:count])
        del self.pending[:count]
        return data

    def line(self, timeout: float) -> bytes:
        """The next line, CRLF included."""
        deadline = time.monotonic() + timeout
        while (end := self.pending.find(b"\r\n")) < 0:
            self._fill(deadline)
        return self.exactly(end + 2, timeout)

    def bulk(self, timeout: float) -> bytes:
        """The payload of a bulk string reply; an error reply raises."""
        header = self.line(timeout)
        if not header.startswith(b"$"):
            raise ReplyError(f"expected a bulk string, got {header!r}")
        return self.exactly(int(header[1:-2]) + 2, timeout)[:-2]


def info(port: int, section: str | None = None) -> str:
    with connect(port) as sock:
        sock.sendall(encode("INFO", section) if section else encode("INFO"))
        return Reader(sock).bulk(timeout=10.0).decode()


if __name__ == "__main__":
    if len(sys.argv) < 3 or sys.argv[1] != "info":
        sys.exit("usage: resp.py info PORT [SECTION]")
    try:
        print(info(int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None), end="")
    except (ReplyError, OSError) as problem:
        sys.exit(f"resp.py: INFO failed: {problem}")
