"""The command line: python -m eventloop worker module:app --queues … --concurrency … --url …"""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import eventloop
from conftest import PACKAGE_ROOT, TESTS, Server, WorkerFactory
from eventloop import TaskState


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT))
    return subprocess.run([sys.executable, "-m", "eventloop", *args], cwd=TESTS, env=env,
                          capture_output=True, text=True, timeout=60)


def test_worker_serves_every_listed_queue_with_url_and_concurrency(
        app: eventloop.App, server: Server, queue: str, start_worker: WorkerFactory) -> None:
    handles = [app.submit("nap", "1", queue=f"{queue}-{name}") for name in ("a", "b", "a", "b")]
    worker = start_worker("--queues", f"{queue}-a,{queue}-b", "--concurrency", "4", "--url", f"redis://{server.url}")
    assert app.wait(handles, timeout=40) == 4
    statuses = [h.status() for h in handles]
    assert max(s.started_ms for s in statuses if s) < min(s.finished_ms for s in statuses if s)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(30) == 0


def test_worker_queues_default_to_default(app: eventloop.App, start_worker: WorkerFactory) -> None:
    worker = start_worker()
    handle = app.submit("upper", "d")
    assert handle.get(timeout=30) == b"D"
    status = handle.status()
    assert status is not None and status.queue == "default" and status.state is TaskState.SUCCEEDED
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(30) == 0


def test_an_attribute_that_is_not_an_app_is_refused() -> None:
    refused = run_cli("worker", "tests_app:upper")
    assert refused.returncode != 0 and "is not an eventloop.App" in refused.stderr


def test_help_lists_the_options() -> None:
    shown = run_cli("worker", "--help")
    assert shown.returncode == 0
    for option in ("--queues", "--concurrency", "--prefetch", "--url", "--lease-ms", "--grace"):
        assert option in shown.stdout
