"""Connections taken from a redis-py pool and kept, for the hot paths (one command at a time each)."""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._protocol import Arg


class Link:
    """One connection of a redis-py pool, used by one thread at a time without the pool's per-command checks."""

    def __init__(self, client: redis.Redis) -> None:
        self.pool = client.connection_pool
        self._connection = self.pool.get_connection("_")

    def call(self, *command: Arg) -> Any:
        """Sends a command and returns its reply; error replies raise ``ResponseError``.

        A broken connection raises and is closed; the next call reconnects.
        """
        try:
            self._connection.send_command(*command)
            return self._connection.read_response()
        except (RedisConnectionError, RedisTimeoutError):
            self._connection.disconnect()
            raise

    def call_many(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """Sends commands in one write and returns their replies; an error reply is a ``ResponseError`` value.

        If the connection breaks, the replies not read are that ``ConnectionError`` (or ``TimeoutError``),
        and the connection is closed (the next call reconnects).
        """
        replies: list[Any] = []
        try:
            self._connection.send_packed_command(self._connection.pack_commands(commands))
            for _ in commands:
                try:
                    replies.append(self._connection.read_response())
                except ResponseError as refused:
                    replies.append(refused)
        except (RedisConnectionError, RedisTimeoutError) as broken:
            self._connection.disconnect()
            replies += [broken] * (len(commands) - len(replies))
        return replies

    def close(self) -> None:
        """Closes the connection (leases fetched on it go back to their queues) and hands it back to the pool."""
        self._connection.disconnect()
        self.pool.release(self._connection)


class Links:
    """A free list of :class:`Link` s over one client's pool: a thread takes one for each command and puts it back."""

    def __init__(self, client: redis.Redis) -> None:
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
