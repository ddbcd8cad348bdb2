"""Connections taken from a redis-py pool and kept, for the hot paths (one command at a time each).

redis-py opens each connection (TCP, TLS or a Unix socket, AUTH, SELECT, as the URL says); commands then
go through :mod:`eventloop._resp` on its socket, which costs a fraction of redis-py's per-command path.
"""

from __future__ import annotations

import os
import socket
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import _resp
from ._protocol import Arg

RECEIVE_SIZE = 65536
"""Bytes asked of one recv at least: a reply, or a burst of pipelined replies, usually arrives in one."""


class Link:
    """One connection of a redis-py pool, used by one thread at a time without the pool's per-command checks."""

    def __init__(self, client: redis.Redis[bytes]) -> None:
        self.pool = client.connection_pool
        self._connection = self.pool.get_connection("_")
        # redis-py's own mapping of error replies to exception classes (NOAUTH, max clients…), used on errors only
        self._error = self._connection._parser.parse_error
        self._socket: socket.socket | None = None
        self._buffer = b""  # received, not yet parsed from _position on
        self._position = 0

    def call(self, *command: Arg) -> Any:
        """Sends a command and returns its reply; error replies raise ``ResponseError``.

        A broken connection raises and is closed; the next call reconnects.
        """
        data = _resp.encode(command)
        try:
            self._send(data)
            reply = self._read()
        except BaseException:  # broken, or interrupted mid-reply: the stream's position is lost
            self._disconnect()
            raise
        if isinstance(reply, ResponseError):
            raise reply
        return reply

    def call_many(self, commands: Sequence[Sequence[Arg] | bytes]) -> list[Any]:
        """Sends commands in one write and returns their replies; an error reply is a ``ResponseError`` value.

        A command is an argument list, or ``bytes`` that :func:`eventloop._resp.encode` made (a command sent
        again and again is encoded once).

        If the connection breaks, the replies not read are that ``ConnectionError`` (or ``TimeoutError``),
        and the connection is closed (the next call reconnects).
        """
        data = b"".join([command if type(command) is bytes else _resp.encode(command) for command in commands])
        replies: list[Any] = []
        try:
            self._send(data)
            for _ in commands:
                replies.append(self._read())
        except (RedisConnectionError, RedisTimeoutError) as broken:
            self._disconnect()
            replies += [broken] * (len(commands) - len(replies))
        except BaseException:
            self._disconnect()
            raise
        return replies

    def abort(self) -> None:
        """Shuts the connection down from any thread: the server sees it close (and requeues the leases fetched
        on it) and a call blocked on it fails; the thread that uses it still closes it."""
        sock = self._connection._sock  # not self._socket: set only once a command was sent
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def close(self) -> None:
        """Closes the connection (leases fetched on it go back to their queues) and hands it back to the pool."""
        self._disconnect()
        self.pool.release(self._connection)

    def _send(self, data: bytes) -> None:
        sock = self._connection._sock
        if sock is None:  # closed by a break, or by the pool's disconnect (App.close): reconnect
            self._connection.connect()  # redis-py's handshake and errors
            sock = self._connection._sock
        if sock is not self._socket:
            self._socket, self._buffer, self._position = sock, b"", 0
        try:
            sock.sendall(data)
        except socket.timeout:
            raise RedisTimeoutError("Timeout writing to socket") from None
        except OSError as error:
            raise RedisConnectionError(f"Error while writing to socket: {error}") from None

    def _read(self) -> Any:
        """The next reply, receiving until it is whole."""
        buffer, position = self._buffer, self._position
        while True:
            try:
                reply, position = _resp.parse(buffer, position, self._error)
                break
            except _resp.Incomplete as short:
                buffer, position = self._receive(buffer[position:], short.needed - position), 0
        self._buffer, self._position = (b"", 0) if position == len(buffer) else (buffer, position)
        if isinstance(reply, RedisConnectionError):  # an error reply that ends the connection (max clients…)
            raise reply
        return reply

    def _receive(self, kept: bytes, needed: int) -> bytes:
        """``kept`` followed by what the socket sends, at least ``needed`` bytes in all (one join for a large reply)."""
        chunks = [kept]
        have = len(kept)
        while have < needed:
            try:
                chunk = self._socket.recv(max(RECEIVE_SIZE, needed - have))  # type: ignore[union-attr]
            except socket.timeout:
                raise RedisTimeoutError("Timeout reading from socket") from None
            except OSError as error:
                raise RedisConnectionError(f"Error while reading from socket: {error}") from None
            if not chunk:
                raise RedisConnectionError("Connection closed by server.")
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)

    def _disconnect(self) -> None:
        self._connection.disconnect()
        self._socket = None
        self._buffer, self._position = b"", 0


class Links:
    """A free list of :class:`Link` s over one client's pool: a thread takes one for each command and puts it back."""

    def __init__(self, client: redis.Redis[bytes]) -> None:
        self._client = client
        self._free: deque[Link] = deque()
        self._pid = os.getpid()

    def call(self, *command: Arg) -> Any:
        """Sends one command on a free link (a new one if none is free) and returns its reply."""
        if self._pid != os.getpid():  # a forked child: the parent's connections are not its own
            self._free, self._pid = deque(), os.getpid()
        try:
            link = self._free.pop()
        except IndexError:
            link = Link(self._client)
        try:
            reply = link.call(*command)
        except ResponseError:
            self._free.append(link)
            raise
        except BaseException:  # interrupted mid-reply, or broken: never reuse it
            link.close()
            raise
        self._free.append(link)
        return reply
