#!/usr/bin/env python3
"""Where one request's round trip goes, from a `perf script` of scheduler and syscall tracepoints.

Reads `perf script -F comm,tid,time,event,trace` output of a single connection driven one request at a time
(benchmarks/submit-path.sh) and cuts each round trip at the syscalls that bound its steps: the client's write of
the request, the reactor's read of it, under a journal the journal thread's pwritev and fdatasync, the reactor's
sendto of the reply, and the client's read of it. Prints each step's median and mean in microseconds as JSON.
x86-64 syscall numbers.
    submit_segments.py TRACE LABEL
"""
import json
import re
import statistics
import sys
from dataclasses import dataclass

READ, WRITE, SENDTO, FDATASYNC, PWRITEV = 0, 1, 44, 75, 296
LINE = re.compile(r"\s*(\S+)\s+\d+\s+([\d.]+):\s+(\S+):\s*(.*)")
CALL = re.compile(r"NR (\d+)(?: = (-?\d+))?")


@dataclass(frozen=True)
class Mark:
    """A step's end: a thread (by comm prefix) entering or leaving a syscall, with a result above `above`."""
    name: str
    thread: str
    exit: bool
    number: int
    above: int = -1


CLIENT_WRITE = Mark("client wrote the request", "queue_bench", True, WRITE, 0)
REACTOR_READ = Mark("reactor read it", "eventloop-rea", True, READ, 8)  # an eventfd read returns 8
JOURNAL_WRITE = Mark("journal thread's pwritev began", "eventloop-jou", False, PWRITEV)
FSYNC_BEGIN = Mark("fdatasync began", "eventloop-jou", False, FDATASYNC)
FSYNC_END = Mark("fdatasync returned", "eventloop-jou", True, FDATASYNC, -1)
REACTOR_SEND = Mark("reactor's sendto returned", "eventloop-rea", True, SENDTO, 0)
CLIENT_READ = Mark("client read the reply", "queue_bench", True, READ, 0)

PATHS = {
    "journal": [CLIENT_WRITE, REACTOR_READ, JOURNAL_WRITE, FSYNC_BEGIN, FSYNC_END, REACTOR_SEND, CLIENT_READ],
    "none": [CLIENT_WRITE, REACTOR_READ, REACTOR_SEND, CLIENT_READ],
}


def matches(mark: Mark, comm: str, event: str, trace: str) -> bool:
    if not comm.startswith(mark.thread) or event != ("raw_syscalls:sys_exit" if mark.exit else "raw_syscalls:sys_enter"):
        return False
    call = CALL.match(trace)
    if call is None or int(call.group(1)) != mark.number:
        return False
    return not mark.exit or int(call.group(2)) > mark.above


def segments(lines: list[str], path: list[Mark]) -> list[list[float]]:
    """Each completed round trip's step durations (µs); a round trip restarts at every client write."""
    steps: list[list[float]] = [[] for _ in path[1:]]
    times: list[float] = []
    for line in lines:
        parsed = LINE.match(line)
        if parsed is None:
            continue
        comm, stamp, event, trace = parsed.groups()
        if matches(CLIENT_WRITE, comm, event, trace):
            times = [float(stamp) * 1e6]
        elif times and matches(path[len(times)], comm, event, trace):
            times.append(float(stamp) * 1e6)
            if len(times) == len(path):
                for i in range(1, len(path)):
                    steps[i - 1].append(times[i] - times[i - 1])
                times = []
    return steps


def main() -> None:
    trace, label = sys.argv[1], sys.argv[2]
    lines = open(trace).read().splitlines()
    path = PATHS["journal"] if any("eventloop-jou" in line and "NR 75" in line for line in lines) else PATHS["none"]
    steps = segments(lines, path)
    if not steps[0]:
        sys.exit(f"{trace}: no complete round trip found")
    rows = [{"step": f"{path[i].name} -> {path[i + 1].name}", "p50_us": round(statistics.median(durations), 1),
             "mean_us": round(statistics.mean(durations), 1)} for i, durations in enumerate(steps)]
    totals = [sum(step[j] for step in steps) for j in range(len(steps[0]))]
    print(json.dumps({"label": label, "round_trips": len(totals), "total_p50_us": round(statistics.median(totals), 1),
                      "steps": rows}))


if __name__ == "__main__":
    main()
