"""Fixtures: a real EventLoop server (artifacts/bin/eventloop) on a free port, and worker processes."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import eventloop

TESTS = Path(__file__).resolve().parent
PACKAGE_ROOT = TESTS.parent
REPO = PACKAGE_ROOT.parent.parent
BINARY = Path(os.environ.get("EVENTLOOP_BIN", REPO / "artifacts" / "bin" / "eventloop"))
LISTENING = re.compile(r"listening on ([0-9.]+):(\d+)")


@dataclass
class Server:
    """A running server process and where it listens."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it has not exited within 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


def start_server(directory: Path, *options: str) -> Server:
    """Starts the server with ``--port 0`` in ``directory`` and waits (up to 30 s) for its listening line."""
    if not (BINARY.is_file() and os.access(BINARY, os.X_OK)):
        pytest.fail(f"{BINARY} is missing: build the server first with ./build.sh", pytrace=False)
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen([str(BINARY), "serve", "--bind", "127.0.0.1", "--port", "0", *options],
                                   cwd=directory, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if match := LISTENING.search(log.read_text(errors="replace")):
            return Server(process, f"{match[1]}:{match[2]}", log)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    pytest.fail(f"the server did not start; its output:\n{log.read_text(errors='replace')}", pytrace=False)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the whole session; tests keep apart by using their own queue names."""
    running = start_server(tmp_path_factory.mktemp("server"))
    yield running
    running.stop()


@pytest.fixture
def app(server: Server) -> Iterator[eventloop.App]:
    """A producer connected to the session's server."""
    with eventloop.App(server.url) as producer:
        yield producer


@pytest.fixture
def queue() -> str:
    """A queue name of this test's own."""
    return f"q-{uuid.uuid4().hex[:12]}"


WorkerFactory = Callable[..., subprocess.Popen[bytes]]


@pytest.fixture
def start_worker(server: Server, tmp_path: Path) -> Iterator[WorkerFactory]:
    """Starts ``python -m eventloop worker tests_app:app …`` processes; kills those still running afterwards.

    Their output is printed at teardown, which pytest shows when the test failed.
    """
    started: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(*options: str) -> subprocess.Popen[bytes]:
        env = dict(os.environ, PYTHONPATH=str(PACKAGE_ROOT), EVENTLOOP_URL=server.url)
        logs.append(tmp_path / f"worker-{len(started)}.log")
        log = logs[-1].open("wb")
        process = subprocess.Popen([sys.executable, "-m", "eventloop", "worker", "tests_app:app", *options],
                                   cwd=TESTS, env=env, stdout=log, stderr=subprocess.STDOUT)
        log.close()
        started.append(process)
        return process

    yield start
    for process, path in zip(started, logs):
        if process.poll() is None:
            process.kill()
            process.wait(10)
        print(f"--- {path.name} (exit {process.returncode}) ---\n{path.read_text(errors='replace')}")


def eventually(check: Callable[[], object], timeout: float = 20.0, what: str = "the condition") -> object:
    """Polls ``check`` every 50 ms until it returns something truthy, or fails the test after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.05)
    pytest.fail(f"timed out after {timeout} s waiting for {what}")
