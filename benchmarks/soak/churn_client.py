"""Connection churn: opens N connections, sends PING on each and reads +PONG, closes them all; repeats.

    python3 churn_client.py --port P --connections N (--cycles K | --duration SECONDS) [--server-pid PID]

Prints one line per cycle (with the server's RSS and descriptor count when --server-pid is given);
the first wrong or missing reply prints `CHURN FAILED: ...` and exits 1.
"""

import argparse
import os
import sys
import time

from resp import Reader, ReplyError, connect, encode

PING = encode("PING")
PONG = b"+PONG\r\n"


def cycle(port: int, count: int, timeout: float) -> None:
    sockets = []
    try:
        for _ in range(count):
            sockets.append(connect(port, timeout))
        for sock in sockets:
            sock.sendall(PING)
        for index, sock in enumerate(sockets):
            reply = Reader(sock).exactly(len(PONG), timeout)
            if reply != PONG:
                raise ReplyError(f"connection {index}: expected {PONG!r}, got {reply!r}")
    finally:
        for sock in sockets:
            sock.close()


def server_state(pid: int | None) -> str:
    if pid is None:
        return ""
    with open(f"/proc/{pid}/status") as status:
        rss_kb = next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))
    return f"  server rss {rss_kb / 1024:.1f} MiB, {len(os.listdir(f'/proc/{pid}/fd'))} fds"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--connections", type=int, default=10_000)
    bound = parser.add_mutually_exclusive_group(required=True)
    bound.add_argument("--cycles", type=int, help="run this many cycles")
    bound.add_argument("--duration", type=float, help="start cycles until this many seconds have passed")
    parser.add_argument("--timeout", type=float, default=10.0, help="deadline for each connect and reply")
    parser.add_argument("--server-pid", type=int)
    args = parser.parse_args()

    started = time.monotonic()
    done = 0
    try:
        while (args.cycles is not None and done < args.cycles) or \
                (args.duration is not None and time.monotonic() - started < args.duration):
            begun = time.monotonic()
            cycle(args.port, args.connections, args.timeout)
            done += 1
            print(f"cycle {done}: {args.connections} connections opened, pinged and closed in "
                  f"{time.monotonic() - begun:.2f} s{server_state(args.server_pid)}", flush=True)
    except (ReplyError, OSError) as problem:
        print(f"CHURN FAILED in cycle {done + 1}: {problem}", flush=True)
        return 1
    print(f"churn done: {done} cycles, {done * args.connections} connections in {time.monotonic() - started:.1f} s",
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
