#!/usr/bin/env python3
"""PING the server one at a time for --seconds; print the round-trip percentiles and the longest (µs) as JSON.
A pause of the reactor shows as the longest round trip."""
import argparse, json, socket, time

ap = argparse.ArgumentParser()
ap.add_argument("--port", type=int, required=True)
ap.add_argument("--seconds", type=float, default=5)
a = ap.parse_args()
s = socket.create_connection(("127.0.0.1", a.port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
rtts = []
end = time.perf_counter() + a.seconds
while time.perf_counter() < end:
    t = time.perf_counter_ns()
    s.sendall(b"*1\r\n$4\r\nPING\r\n")
    got = b""
    while not got.endswith(b"\r\n"):
        got += s.recv(64)
    rtts.append((time.perf_counter_ns() - t) / 1000)
rtts.sort()
p = lambda q: round(rtts[min(len(rtts) - 1, int(q * len(rtts)))])
print(json.dumps({"pings": len(rtts), "p50_us": p(0.5), "p99_us": p(0.99), "p999_us": p(0.999), "max_us": round(rtts[-1])}))
