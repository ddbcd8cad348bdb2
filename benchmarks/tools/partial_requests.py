#!/usr/bin/env python3
"""Opens CONNS connections that each send the first SENT_MIB of an ECHO whose argument is ARG_MIB long.

usage: partial_requests.py PORT CONNS SENT_MIB ARG_MIB [HOLD_SECONDS]
The requests never complete: the server must either buffer them or refuse them. Prints "sent" once
every connection has sent its share (or was closed trying), holds them HOLD_SECONDS (default 3),
then prints how many the server closed.
"""
import socket
import sys
import time

port, conns = int(sys.argv[1]), int(sys.argv[2])
sent_bytes, arg_bytes = int(float(sys.argv[3]) * (1 << 20)), int(float(sys.argv[4]) * (1 << 20))
hold = float(sys.argv[5]) if len(sys.argv) > 5 else 3.0
header = b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % arg_bytes
chunk = b"x" * (64 << 10)
sockets, closed = [], 0
for _ in range(conns):
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(10)
    sockets.append(s)
for s in sockets:
    try:
        s.sendall(header)
        left = sent_bytes - len(header)
        while left > 0:
            n = min(left, len(chunk))
            s.sendall(chunk[:n])
            left -= n
    except (BrokenPipeError, ConnectionResetError, socket.timeout):
        pass
print("sent", flush=True)
time.sleep(hold)
for s in sockets:
    s.setblocking(False)
    try:
        while True:
            data = s.recv(65536)
            if not data:
                closed += 1
                break
    except BlockingIOError:
        pass
    except ConnectionResetError:
        closed += 1
    s.close()
print(f"{closed} of {conns} connections closed by the server")
