#!/usr/bin/env python3
"""Where one request's round trip goes, from a `perf script` of scheduler and syscall tracepoints.

Reads `perf script -F comm,tid,time,event,trace` output of a single connection driven one request at a time
(benchmarks/submit-path.sh) and cuts each round trip at the syscalls that bound its steps: the client's write of
the request, the reactor's read of it, under a journal the journal thread's pwritev and fdatasync, the reactor's
sendto of the reply, and the client's read of it. Prints each step's median and mean in microseconds as JSON, with
the median time inside each thread's syscalls and how often the journal thread blocks inside one fdatasync (once
for each disk request it waits for). x86-64 syscall numbers.
    submit_segments.py TRACE LABEL
"""
import json
import re
import statistics
import sys
from dataclasses import dataclass

READ, WRITE, SENDTO, FDATASYNC, PWRITEV = 0, 1, 44, 75, 296
LINE = re.compile(r"\s*(\S+)\s+(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")
THREADS = {"queue_bench": "client", "eventloop-rea": "reactor", "eventloop-jou": "journal"}
NAMES = {READ: "read", WRITE: "write", SENDTO: "sendto", FDATASYNC: "fdatasync", PWRITEV: "pwritev", 7: "poll",
         232: "epoll_wait"}
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
FSYNC_END = Mark("fdatasync returned", "eventloop-jou", True, FDATASYNC)
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


@dataclass(frozen=True)
class Event:
    """One line of the trace: thread name, thread id, time in µs, event name, and its text."""
    comm: str
    tid: str
    micros: float
    name: str
    trace: str


def parse(lines: list[str]) -> list[Event]:
    events = []
    for line in lines:
        parsed = LINE.match(line)
        if parsed is not None:
            comm, tid, stamp, name, trace = parsed.groups()
            events.append(Event(comm, tid, float(stamp) * 1e6, name, trace))
    return events


def segments(events: list[Event], path: list[Mark]) -> list[list[float]]:
    """Each completed round trip's step durations (µs); a round trip restarts at every client write."""
    steps: list[list[float]] = [[] for _ in path[1:]]
    times: list[float] = []
    for event in events:
        if matches(CLIENT_WRITE, event.comm, event.name, event.trace):
            times = [event.micros]
        elif times and matches(path[len(times)], event.comm, event.name, event.trace):
            times.append(event.micros)
            if len(times) == len(path):
                for i in range(1, len(path)):
                    steps[i - 1].append(times[i] - times[i - 1])
                times = []
    return steps


def thread_of(comm: str) -> str | None:
    return next((name for prefix, name in THREADS.items() if comm.startswith(prefix)), None)


def syscall_times(events: list[Event]) -> tuple[dict[str, float], float | None]:
    """Median µs inside each thread's syscalls (by thread and name), and the journal thread's blocks per fdatasync."""
    entered: dict[str, tuple[int, float]] = {}
    durations: dict[str, list[float]] = {}
    in_fsync: dict[str, int] = {}
    blocks: list[int] = []
    for event in events:
        thread = thread_of(event.comm)
        if thread is None:
            continue
        call = CALL.match(event.trace)
        tid = event.tid
        if event.name == "raw_syscalls:sys_enter" and call:
            entered[tid] = (int(call.group(1)), event.micros)
            if int(call.group(1)) == FDATASYNC:
                in_fsync[tid] = 0
        elif event.name == "raw_syscalls:sys_exit" and call and tid in entered and entered[tid][0] == int(call.group(1)):
            number, began = entered.pop(tid)
            if number in NAMES:
                durations.setdefault(f"{thread} {NAMES[number]}", []).append(event.micros - began)
            if number == FDATASYNC and tid in in_fsync:
                blocks.append(in_fsync.pop(tid))
        elif event.name == "sched:sched_switch" and "prev_state=D" in event.trace and tid in in_fsync:
            in_fsync[tid] += 1
    medians = {name: round(statistics.median(times), 1) for name, times in sorted(durations.items()) if len(times) >= 50}
    return medians, round(statistics.mean(blocks), 2) if blocks else None


def main() -> None:
    trace, label = sys.argv[1], sys.argv[2]
    events = parse(open(trace).read().splitlines())
    path = PATHS["journal"] if any(e.comm.startswith("eventloop-jou") and e.trace.startswith(f"NR {FDATASYNC} ")
                                   for e in events) else PATHS["none"]
    steps = segments(events, path)
    if not steps[0]:
        sys.exit(f"{trace}: no complete round trip found")
    rows = [{"step": f"{path[i].name} -> {path[i + 1].name}", "p50_us": round(statistics.median(durations), 1),
             "mean_us": round(statistics.mean(durations), 1)} for i, durations in enumerate(steps)]
    totals = [sum(step[j] for step in steps) for j in range(len(steps[0]))]
    syscalls, blocks = syscall_times(events)
    print(json.dumps({"label": label, "round_trips": len(totals), "total_p50_us": round(statistics.median(totals), 1),
                      "steps": rows, "syscall_p50_us": syscalls, "blocks_per_fdatasync": blocks}))


if __name__ == "__main__":
    main()
