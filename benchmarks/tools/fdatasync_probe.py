#!/usr/bin/env python3
"""This disk's fdatasync latency where a journal lives: 200-byte writes, each followed by fdatasync.

Four ways: appending (the file's size changes every time, what redis-server and beanstalkd pay), into
space allocated ahead with posix_fallocate (what EventLoop's journal did under always until 2026-12-04), into zeros
written and fdatasync'd ahead (what it does now: no unwritten extent to convert), and the fallocated one with a process
yielding in a loop on this CPU (fallocated-awake), which keeps the CPU from halting while the disk works, as a
reactor with --journal-wait poll does: on this VM a halted vCPU is woken late by the completion. One JSON line each,
with how often the process blocked per fdatasync (voluntary context switches: once for each disk request waited for).
    fdatasync_probe.py DIR [writes]
"""
import json
import os
import resource
import subprocess
import sys
import time


def probe(directory: str, mode: str, writes: int) -> dict[str, object]:
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if mode.startswith("fallocated"):
            os.posix_fallocate(fd, 0, 4 << 20)
            os.fdatasync(fd)
        elif mode == "zeroed":
            os.pwrite(fd, bytes(writes * 200 + 4096), 0)
            os.fdatasync(fd)
        samples = []
        blocked_before = resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw
        for i in range(writes):
            os.pwrite(fd, b"x" * 200, i * 200)
            started = time.perf_counter_ns()
            os.fdatasync(fd)
            samples.append((time.perf_counter_ns() - started) / 1000)
        blocks = (resource.getrusage(resource.RUSAGE_SELF).ru_nvcsw - blocked_before) / writes
    finally:
        os.close(fd)
        os.unlink(path)
    samples.sort()
    return {"system": "disk", "mode": mode, "fdatasync_p50_us": round(samples[len(samples) // 2]),
            "fdatasync_p99_us": round(samples[len(samples) * 99 // 100]), "blocks_per_fdatasync": round(blocks, 2)}


def main() -> None:
    directory = sys.argv[1]
    writes = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    for mode in ("append", "fallocated", "zeroed"):
        print(json.dumps(probe(directory, mode, writes), separators=(",", ":")), flush=True)
    # Inherits this process's CPU affinity: it yields on the probe's CPU.
    neighbour = subprocess.Popen([sys.executable, "-c", "import os\nwhile True: os.sched_yield()"])
    try:
        time.sleep(0.2)
        print(json.dumps(probe(directory, "fallocated-awake", writes), separators=(",", ":")), flush=True)
    finally:
        neighbour.kill()
        neighbour.wait()


if __name__ == "__main__":
    main()
