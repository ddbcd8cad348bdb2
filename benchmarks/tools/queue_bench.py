#!/usr/bin/env python3
"""Closed-loop enqueue load for durability benchmarks: the same client for every system.

Speaks RESP (EventLoop SUBMIT, redis LPUSH) or the beanstalkd protocol (put). Each connection keeps
--depth requests in flight (sent as one write, replies counted by their line ends), for --seconds or
until --count requests are acknowledged. Prints one JSON line: acknowledged requests, rate, and latency
percentiles of one round (depth requests) in microseconds.

  queue_bench.py --proto resp --port 7379 --command 'SUBMIT bench QUEUE b ARGS {payload}' --conns 50 --depth 16
  queue_bench.py --proto beanstalk --port 11300 --conns 1 --depth 1
"""
import argparse, json, selectors, socket, time


def resp(words):
    out = [b"*%d\r\n" % len(words)]
    for w in words:
        out.append(b"$%d\r\n%s\r\n" % (len(w), w))
    return b"".join(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", choices=["resp", "beanstalk"], default="resp")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--command", default="SUBMIT bench QUEUE bench ARGS {payload}")
    ap.add_argument("--payload", type=int, default=64)
    ap.add_argument("--conns", type=int, default=50)
    ap.add_argument("--depth", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--count", type=int, default=0, help="stop after this many acknowledged (0: run --seconds)")
    a = ap.parse_args()
    payload = b"p" * a.payload
    if a.proto == "resp":
        one = resp([payload if w == "{payload}" else w.encode() for w in a.command.split()])
        # A RESP reply ends with one CRLF (integer, simple string, error) or two (bulk string).
        lines_per_reply = 2 if a.command.split()[0].upper() == "SUBMIT" else 1
    else:
        one = b"put 0 0 120 %d\r\n%s\r\n" % (len(payload), payload)
        lines_per_reply = 1
    batch = one * a.depth
    sel = selectors.DefaultSelector()
    conns = []
    for _ in range(a.conns):
        s = socket.create_connection((a.host, a.port))
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"sock": s, "lines": 0, "sent_at": 0, "tail": b""}
        conns.append(st)
        sel.register(s, selectors.EVENT_READ, st)
    latencies = []
    done = 0
    errors = 0
    start = time.perf_counter()
    deadline = start + a.seconds
    for st in conns:
        st["sent_at"] = time.perf_counter_ns()
        st["sock"].sendall(batch)
    want = lines_per_reply * a.depth
    while True:
        now = time.perf_counter()
        if (a.count and done >= a.count) or (not a.count and now >= deadline):
            break
        for key, _ in sel.select(timeout=1):
            st = key.data
            data = st["sock"].recv(262144)
            if not data:
                raise SystemExit("server closed a connection")
            if b"-" in data[:1] or b"\r\n-" in data:
                errors += data.count(b"\r\n-") + (1 if data[:1] == b"-" else 0)
            st["lines"] += data.count(b"\r\n")
            if st["lines"] >= want:
                st["lines"] -= want
                latencies.append((time.perf_counter_ns() - st["sent_at"]) / 1000)
                done += a.depth
                st["sent_at"] = time.perf_counter_ns()
                st["sock"].sendall(batch)
    elapsed = time.perf_counter() - start
    latencies.sort()
    pct = lambda p: round(latencies[min(len(latencies) - 1, int(p * len(latencies)))], 1) if latencies else 0
    print(json.dumps({"acknowledged": done, "seconds": round(elapsed, 3), "rate": round(done / elapsed),
                      "round_p50_us": pct(0.50), "round_p99_us": pct(0.99), "errors": errors,
                      "conns": a.conns, "depth": a.depth}))


if __name__ == "__main__":
    main()
