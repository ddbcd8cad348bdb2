#!/usr/bin/env python3
"""10,000 connections blocked in FETCH ... BLOCK 0: what they cost the server while idle, and how long a SUBMIT
takes to reach a fetcher.

Opens N connections that each send FETCH BLOCK 0 FROM <queue>, waits until INFO reports them all blocked,
samples the server's CPU (utime+stime from /proc/PID/stat) over an idle window, then submits tasks one at a
time from a producer connection and times each until some fetcher's socket has the task (the fetcher then
re-parks with a new FETCH). Prints one JSON object. Loopback only; bounded in count and time.
"""
from __future__ import annotations

import argparse
import json
import os
import selectors
import socket
import sys
import time


def encode(*words: str) -> bytes:
    out = [f"*{len(words)}\r\n".encode()]
    for word in words:
        raw = word.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def call(sock: socket.socket, *words: str) -> bytes:
    sock.sendall(encode(*words))
    return read_reply(sock)


def read_reply(sock: socket.socket) -> bytes:
    """Reads one whole reply (enough RESP for INFO, SUBMIT and a FETCH array)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("server closed the connection")
        data += chunk
        if complete(data):
            return data


def complete(data: bytes) -> bool:
    try:
        return parse(data, 0) == len(data)
    except IndexError:
        return False


def parse(data: bytes, at: int) -> int:
    end = data.index(b"\r\n", at)
    kind, header = data[at:at + 1], data[at + 1:end]
    if kind in (b"+", b"-", b":"):
        return end + 2
    if kind == b"$":
        length = int(header)
        if length < 0:
            return end + 2
        if len(data) < end + 2 + length + 2:
            raise IndexError
        return end + 2 + length + 2
    count = int(header)
    at = end + 2
    for _ in range(max(count, 0)):
        at = parse(data, at)
    return at


def info_value(sock: socket.socket, section: str, key: str) -> str:
    text = call(sock, "INFO", section).decode()
    for line in text.split("\r\n"):
        if line.startswith(key + ":"):
            return line.split(":", 1)[1]
    raise KeyError(key)


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pid", type=int, required=True, help="the server's pid, for its CPU time")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--idle-seconds", type=float, default=10.0)
    parser.add_argument("--submits", type=int, default=2_000)
    parser.add_argument("--queue", default="blocked-bench")
    args = parser.parse_args()

    producer = socket.create_connection(("127.0.0.1", args.port))
    selector = selectors.DefaultSelector()
    fetch = encode("FETCH", "BLOCK", "0", "FROM", args.queue)
    fetchers: list[socket.socket] = []
    deadline = time.monotonic() + 120
    for _ in range(args.connections):
        sock = socket.create_connection(("127.0.0.1", args.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(fetch)
        selector.register(sock, selectors.EVENT_READ)
        fetchers.append(sock)
    while int(info_value(producer, "workers", "external_blocked_fetchers")) < args.connections:
        if time.monotonic() > deadline:
            print("not every fetcher blocked within 120 s", file=sys.stderr)
            return 1
        time.sleep(0.1)

    before = cpu_seconds(args.pid)
    time.sleep(args.idle_seconds)
    idle_cpu = cpu_seconds(args.pid) - before

    latencies: list[float] = []
    for i in range(args.submits):
        started = time.perf_counter()
        producer.sendall(encode("SUBMIT", "noop", "QUEUE", args.queue, "ARGS", str(i)))
        woken = None
        while woken is None:
            for key, _ in selector.select(timeout=10):
                woken = key.fileobj
                break
            else:
                print("no fetcher was woken within 10 s", file=sys.stderr)
                return 1
        latencies.append((time.perf_counter() - started) * 1e6)
        reply = read_reply(woken)  # the leased task
        task_id = reply.split(b"\r\n")[3].decode()
        woken.sendall(encode("ACK", task_id, "1") + fetch)  # settle it and park again
        read_reply(woken)
        read_reply(producer)
    print(json.dumps({
        "connections": args.connections,
        "idle_seconds": args.idle_seconds,
        "idle_server_cpu_seconds": round(idle_cpu, 3),
        "idle_server_cpu_percent": round(100 * idle_cpu / args.idle_seconds, 2),
        "submits": args.submits,
        "submit_to_fetcher_p50_us": round(percentile(latencies, 50), 1),
        "submit_to_fetcher_p99_us": round(percentile(latencies, 99), 1),
    }))
    for sock in fetchers:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
