"""The RESP2 codec of the hot paths (against redis-py's own) and the connections that use it."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
import redis
from redis.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import DataError, InvalidResponse, ResponseError

import eventloop
from conftest import Server
from eventloop import _resp
from eventloop._connection import Link
from eventloop._protocol import Arg

ERRORS = Connection()._parser.parse_error  # redis-py's mapping, as a Link uses it


def test_commands_are_encoded_as_redis_py_encodes_them() -> None:
    commands: list[list[Arg]] = [
        ["PING"], ["SUBMIT", "noop", "QUEUE", "q", "PRIORITY", 5, "ARGS", b"\x00\xff", "é", 1.5, -7, b""],
        ["ACK", "id", 3, 1e20],
    ]
    for command in commands:
        assert _resp.encode(command) == b"".join(Connection().pack_command(*command))


def test_booleans_and_other_types_are_refused_as_redis_py_refuses_them() -> None:
    with pytest.raises(DataError, match="'bool'"):
        _resp.encode(["SUBMIT", True])
    with pytest.raises(DataError, match="'list'"):
        _resp.encode(["SUBMIT", [1]])  # type: ignore[list-item]


REPLIES = b"".join([
    b"*4\r\n$2\r\nid\r\n:2\r\n$4\r\nnoop\r\n*2\r\n$0\r\n\r\n$3\r\na\r\n\r\n",  # a FETCH row; an argument holds CRLF
    b"$-1\r\n*-1\r\n*0\r\n+OK\r\n:-12\r\n",
    b"-STALE the delivery is gone\r\n-ERR max number of clients reached\r\n",
])


def parse_all(buffer: bytes) -> list[object]:
    replies: list[object] = []
    position = 0
    while position < len(buffer):
        reply, position = _resp.parse(buffer, position, ERRORS)
        replies.append(reply)
    return replies


def test_every_kind_of_reply_parses_to_redis_py_types() -> None:
    fetched, nil, nil_array, empty, ok, integer, stale, full = parse_all(REPLIES)
    assert fetched == [b"id", 2, b"noop", [b"", b"a\r\n"]]
    assert (nil, nil_array, empty, ok, integer) == (None, None, [], b"OK", -12)
    assert type(stale) is ResponseError and str(stale) == "STALE the delivery is gone"
    assert isinstance(full, RedisConnectionError)  # redis-py's class for this reply


def test_a_reply_cut_anywhere_asks_for_more_bytes() -> None:
    whole = [repr(reply) for reply in parse_all(REPLIES)]  # repr: exceptions are not equal to their twins
    for cut in range(1, len(REPLIES)):
        replies: list[str] = []
        position = 0
        try:
            while position < cut:
                reply, position = _resp.parse(REPLIES[:cut], position, ERRORS)
                replies.append(repr(reply))
        except _resp.Incomplete as short:
            assert short.needed > cut
        assert replies == whole[:len(replies)]  # what was whole parsed as when uncut


def test_a_reply_that_is_not_resp_is_a_protocol_error() -> None:
    with pytest.raises(InvalidResponse):
        _resp.parse(b"HTTP/1.1 400\r\n", 0, ERRORS)


def test_large_replies_and_errors_inside_a_batch(server: Server, queue: str) -> None:
    link = Link(redis.Redis.from_url(f"redis://{server.url}"))
    try:
        big = bytes(range(256)) * 8192  # 2 MiB: many receives joined once
        task_id = link.call("SUBMIT", "nobody-runs-this", "QUEUE", queue, "ARGS", big, b"small")
        fetched, refused, pinged = link.call_many([
            ["FETCH", "COUNT", 1, "FROM", queue], ["ACK", "no-such-id", 1], _resp.encode(["PING"]),
        ])
        assert fetched == [[task_id, 1, b"nobody-runs-this", [big, b"small"]]]
        assert isinstance(refused, ResponseError) and str(refused).startswith("STALE")
        assert pinged == b"PONG"
        with pytest.raises(ResponseError, match="STALE"):
            link.call("ACK", "no-such-id", 1)
        assert link.call("ACK", task_id, 1, big) == b"OK"
        assert link.call("RESULT", task_id) == big
    finally:
        link.close()


def test_a_command_after_close_reconnects(app: eventloop.App) -> None:
    assert app.execute("PING") == b"PONG"
    app.close()
    assert app.execute("PING") == b"PONG"


@pytest.fixture
def flaky_server() -> Iterator[tuple[str, list[bytes]]]:
    """A listener that answers its first connection's command with half a reply and closes; later ones get +PONG."""
    listener = socket.create_server(("127.0.0.1", 0))
    replies = [b"$10\r\nhal", b"+PONG\r\n"]

    def serve() -> None:
        for reply in replies:
            connection, _ = listener.accept()
            with connection:
                connection.recv(1024)
                connection.sendall(reply)
                if reply.endswith(b"\r\n"):
                    connection.recv(1024)  # the client closes

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}", replies
    thread.join(10)
    listener.close()


def test_a_connection_closed_mid_reply_raises_and_the_next_call_reconnects(
        flaky_server: tuple[str, list[bytes]]) -> None:
    url, _ = flaky_server
    app = eventloop.App(url)
    with pytest.raises(RedisConnectionError, match="closed"):
        app.execute("PING")
    assert app.execute("PING") == b"PONG"
    app.close()
