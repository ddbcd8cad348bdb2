"""RESP2 framing for the blocking hot paths: commands to bytes, replies from a byte buffer.

redis-py's pure-Python parser costs tens of microseconds a reply (a ``BytesIO`` seek and readline per
line, health checks, per-call formatting); a producer or a worker spends most of its CPU there. These
two functions do the same work on one ``bytes`` buffer with ``find`` and slices, and keep redis-py's
reply types (bytes, int, None, lists) and exceptions (error replies become redis-py's own classes).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from redis.exceptions import DataError, InvalidResponse, ResponseError

from ._protocol import Arg

ErrorMapper = Callable[[str], ResponseError]
"""Turns an error reply's text into the exception redis-py would raise for it (its parser's ``parse_error``)."""


class Incomplete(Exception):
    """The buffer ends inside a reply: at least ``needed`` bytes (counted from the buffer's start) are wanted."""

    def __init__(self, needed: int) -> None:
        super().__init__(needed)
        self.needed = needed


def encode(command: Sequence[Arg]) -> bytes:
    """One command as a RESP array of bulk strings (``str`` as UTF-8, numbers in decimal, as redis-py sends them)."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if type(arg) is not bytes:  # exact type checks first: the common words cost one comparison
            arg = arg.encode() if type(arg) is str else _encode_other(arg)
        parts.append(b"$%d\r\n%b\r\n" % (len(arg), arg))
    return b"".join(parts)


def _encode_other(arg: object) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode()
    if isinstance(arg, bool):  # redis-py refuses booleans too: True would silently become 1
        raise DataError("Invalid input of type: 'bool'. Convert to a bytes, string, int or float first.")
    if isinstance(arg, int):
        return b"%d" % arg
    if isinstance(arg, float):
        return repr(arg).encode()
    raise DataError(f"Invalid input of type: '{type(arg).__name__}'. Convert to a bytes, string, int or float first.")


def parse(buffer: bytes, start: int, error: ErrorMapper) -> tuple[Any, int]:
    """Parses the reply at ``start``; returns it and where the next one starts, or raises :class:`Incomplete`.

    An error reply is returned as an exception value (from ``error``), not raised, so a caller reading
    several replies keeps reading.
    """
    end = buffer.find(b"\r\n", start)
    if end < 0:
        raise Incomplete(len(buffer) + 1)
    kind = buffer[start]
    if kind == 36:  # $: bulk string
        length = int(buffer[start + 1:end])
        if length < 0:
            return None, end + 2
        stop = end + 2 + length
        if len(buffer) < stop + 2:
            raise Incomplete(stop + 2)
        return buffer[end + 2:stop], stop + 2
    if kind == 42:  # *: array
        count = int(buffer[start + 1:end])
        if count < 0:
            return None, end + 2
        items = []
        position = end + 2
        for _ in range(count):
            item, position = parse(buffer, position, error)
            items.append(item)
        return items, position
    if kind == 43:  # +: simple string
        return buffer[start + 1:end], end + 2
    if kind == 58:  # :: integer
        return int(buffer[start + 1:end]), end + 2
    if kind == 45:  # -: error
        return error(buffer[start + 1:end].decode("utf-8", "replace")), end + 2
    raise InvalidResponse(f"Protocol Error: {buffer[start:end]!r}")
