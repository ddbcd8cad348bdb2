#!/usr/bin/env python3
"""Pipelines RUN echo requests asking for TOTAL bytes of replies and never reads one.

usage: never_reads.py PORT [TOTAL_MIB] [PAYLOAD_KIB]
Sends until the server closes the connection (its output limit) or everything is sent; prints
how many bytes of requests were sent and how the connection ended.
"""
import socket
import sys

port = int(sys.argv[1])
total = int(sys.argv[2] if len(sys.argv) > 2 else 1024) << 20
payload = b"x" * (int(sys.argv[3] if len(sys.argv) > 3 else 64) << 10)
request = b"*3\r\n$3\r\nRUN\r\n$4\r\necho\r\n$%d\r\n%s\r\n" % (len(payload), payload)
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # keep what the kernel buffers for us small
sent = 0
try:
    while sent < total:
        s.sendall(request)
        sent += len(payload)
    print(f"sent {sent >> 20} MiB of requests; the server kept the connection")
except (BrokenPipeError, ConnectionResetError) as ended:
    print(f"sent {sent >> 20} MiB of requests before the server closed the connection ({type(ended).__name__})")
