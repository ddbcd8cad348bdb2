"""Command line: ``python -m eventloop worker module:app [--queues a,b] [--concurrency N] [--prefetch K] [--url URL]``."""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from .client import App


def load_app(spec: str) -> App:
    """Imports ``module:attribute`` (``module`` alone means ``module:app``) and checks it is an :class:`App`."""
    module_name, _, attribute = spec.partition(":")
    app = getattr(importlib.import_module(module_name), attribute or "app", None)
    if not isinstance(app, App):
        raise SystemExit(f"eventloop: {spec} is not an eventloop.App")
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs a worker until SIGTERM or SIGINT; returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m eventloop", description="EventLoop task queue tools")
    commands = parser.add_subparsers(dest="command", required=True)
    worker = commands.add_parser("worker", help="run the task functions registered on an App")
    worker.add_argument("app", help="the App to serve, as module:attribute (module alone: module:app)")
    worker.add_argument("--queues", default="default", help="comma-separated queues to fetch from [default]")
    worker.add_argument("--concurrency", type=int, default=1, help="tasks run at once, one thread each [1]")
    worker.add_argument("--prefetch", type=int, metavar="K",
                        help="tasks each thread fetches at once; their ACKs go with its next FETCH [1 to 16, as "
                             "many as the thread's last batch ran in 10 ms: slow tasks one at a time]")
    worker.add_argument("--url", help="server address, host:port or redis://[:password@]host:port "
                                      "[the app's, else $EVENTLOOP_URL, else 127.0.0.1:7379]")
    worker.add_argument("--lease-ms", type=int, default=30_000, help="lease of each fetched task, renewed "
                                                                      "every third of it [30000]")
    worker.add_argument("--grace", type=float, default=30.0, help="seconds running tasks get to finish on "
                                                                   "SIGTERM/SIGINT [30]")
    worker.add_argument("--log-level", default="INFO", help="logging level [INFO]")
    options = parser.parse_args(argv)

    logging.basicConfig(level=options.log_level.upper(), format="%(asctime)s %(name)s: %(message)s")
    app = load_app(options.app)
    if options.url:
        app.configure(options.url)
    queues = [q for q in options.queues.split(",") if q]
    if not queues:
        parser.error("--queues needs at least one queue name")
    try:
        runner = app.worker(queues, options.concurrency, lease_ms=options.lease_ms, grace_s=options.grace,
                            prefetch=options.prefetch)
    except ValueError as invalid:
        parser.error(str(invalid))
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
