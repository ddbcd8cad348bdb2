"""Soak verifier: on its own connection, every few seconds, sends a known set of commands and checks
every reply byte for byte. Random payloads (binary, CR and LF included) make a reply that belongs to
another request or another connection impossible to mistake for the right one.

    python3 verifier.py --port P --duration SECONDS [--interval SECONDS] [--timeout SECONDS]

Prints one line per round; on the first wrong or missing reply prints `VERIFY FAILED: ...` and exits 1.
"""

import argparse
import hashlib
import os
import random
import sys
import time

from resp import Reader, ReplyError, bulk, connect, encode


def random_bytes(low: int, high: int) -> bytes:
    return os.urandom(random.randint(low, high))


def random_word() -> str:
    return "".join(random.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=random.randint(1, 24)))


def echo(data: bytes):
    return f"RUN echo <{len(data)} bytes>", encode("RUN", "echo", data), bulk(data)


def sha256(data: bytes):
    return f"RUN sha256 <{len(data)} bytes>", encode("RUN", "sha256", data), bulk(hashlib.sha256(data).hexdigest())


def fail(message: str):
    return f"RUN fail {message}", encode("RUN", "fail", message), f"-ERR task 'fail' failed: {message}\r\n".encode()


def singles():
    """(name, request, expected reply) sent one at a time, each reply awaited before the next request."""
    word = random_bytes(1, 64)
    return [
        ("PING", encode("PING"), b"+PONG\r\n"),
        ("ECHO <random>", encode("ECHO", word), bulk(word)),
        echo(random_bytes(0, 4096)),
        sha256(random_bytes(0, 4096)),
        ("RUN sleep 5", encode("RUN", "sleep", "5"), bulk("OK")),
        fail(random_word()),
    ]


def pipelined():
    """One batch in one send: a slow task first, so later replies must wait for it to keep their order."""
    return [
        ("RUN sleep 20", encode("RUN", "sleep", "20"), bulk("OK")),
        ("PING", encode("PING"), b"+PONG\r\n"),
        echo(random_bytes(0, 256)),
        sha256(random_bytes(1, 256)),
        fail(random_word()),
        ("RUN sleep 1", encode("RUN", "sleep", "1"), bulk("OK")),
        echo(random_bytes(32 << 10, 64 << 10)),
        ("ECHO last", encode("ECHO", "last"), bulk("last")),
    ]


def check(reader: Reader, round_no: int, name: str, expected: bytes, timeout: float) -> None:
    try:
        got = reader.exactly(len(expected), timeout)
    except ReplyError as missing:
        raise ReplyError(f"round {round_no}, {name}: reply missing: {missing}") from None
    if got != expected:
        at = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
        raise ReplyError(f"round {round_no}, {name}: reply differs at byte {at}: "
                         f"expected {expected[max(0, at - 16):at + 48]!r}, got {got[max(0, at - 16):at + 48]!r}")


def run_round(sock, reader: Reader, round_no: int, timeout: float) -> int:
    for name, request, expected in singles():
        sock.sendall(request)
        check(reader, round_no, name, expected, timeout)
    batch = pipelined()
    sock.sendall(b"".join(request for _, request, _ in batch))
    for name, _, expected in batch:
        check(reader, round_no, f"pipelined {name}", expected, timeout)
    if reader.pending:
        raise ReplyError(f"round {round_no}: unexpected extra bytes {bytes(reader.pending[:120])!r}")
    return len(batch) + 6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--duration", type=float, required=True, help="seconds to keep verifying")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between rounds")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline for each reply")
    args = parser.parse_args()

    end = time.monotonic() + args.duration
    replies = 0
    round_no = 0
    try:
        with connect(args.port, args.timeout) as sock:
            reader = Reader(sock)
            while time.monotonic() < end:
                round_no += 1
                started = time.monotonic()
                replies += run_round(sock, reader, round_no, args.timeout)
                print(f"round {round_no} ok: {replies} replies checked, "
                      f"{(time.monotonic() - started) * 1000:.1f} ms", flush=True)
                time.sleep(max(0.0, min(args.interval, end - time.monotonic())))
    except (ReplyError, OSError) as problem:
        print(f"VERIFY FAILED: {problem}", flush=True)
        return 1
    print(f"verifier done: {round_no} rounds, {replies} replies, all byte-exact", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
