"""The task functions the tests' worker processes serve (``python -m eventloop worker tests_app:app``)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import eventloop

app = eventloop.App()  # EVENTLOOP_URL or --url says where


@app.task("upper")
def upper(data: bytes) -> bytes:
    """Returns its argument upper-cased."""
    return data.upper()


@app.task
def noop() -> None:
    """Does nothing: an empty result."""


@app.task("boom")
def boom(message: bytes) -> str:
    """Raises ValueError with its argument as the message."""
    raise ValueError(message.decode())


@app.task("nap")
def nap(seconds: bytes) -> str:
    """Sleeps, then returns the worker's pid."""
    time.sleep(float(seconds))
    return str(os.getpid())


@app.task("hang_first", bind=True)
def hang_first(context: eventloop.TaskContext) -> str:
    """On its first attempt waits (up to 2 min) for its worker to be killed; later attempts return at once."""
    if context.attempt == 1:
        context.wait_cancelled(120)
    return f"attempt {context.attempt} in {os.getpid()}"


@app.task("until_cancelled", bind=True)
def until_cancelled(context: eventloop.TaskContext, marker: bytes) -> str:
    """Waits (up to 1 min) to learn it was cancelled, and says so in the file named by ``marker``."""
    seen = context.wait_cancelled(60)
    Path(marker.decode()).write_text("cancelled" if seen else "not cancelled")
    return "finished"


@app.task("slow_first", bind=True)
def slow_first(context: eventloop.TaskContext, marker: bytes) -> str:
    """On its first attempt writes the file ``marker`` names, then sleeps 10 min heedless of cancellation (like
    code that cannot be interrupted); later attempts return at once."""
    if context.attempt == 1:
        Path(marker.decode()).write_text("started")
        time.sleep(600)
    return f"attempt {context.attempt} in {os.getpid()}"
