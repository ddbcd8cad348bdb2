"""Forces a full, blocking garbage collection in a running .NET process, from outside, the way memory
profilers do: through the runtime's diagnostics port (a Unix socket), it opens an EventPipe session with
the runtime provider's GCHeapCollect keyword, which makes the runtime collect at once, then closes it.

    python3 force_gc.py PID

Memory measured right after a full collection is what is really held, not garbage waiting for the GC,
so a leak can be told from the GC's own rhythm. See the Diagnostic IPC Protocol in dotnet/diagnostics.
"""

import glob
import os
import socket
import struct
import sys
import threading
import time

MAGIC = b"DOTNET_IPC_V1\0"
HEADER = struct.Struct("<14sHBBH")  # magic, total size, command set, command id, reserved
EVENTPIPE, COLLECT_TRACING_2, STOP_TRACING = 0x02, 0x03, 0x01
SERVER_OK = (0xFF, 0x00)
RUNTIME_PROVIDER = "Microsoft-Windows-DotNETRuntime"
GC_KEYWORD, GC_HEAP_COLLECT_KEYWORD = 0x1, 0x800000
INFORMATIONAL = 4
NETTRACE_FORMAT = 1


def ipc_string(text: str) -> bytes:
    """Length in UTF-16 code units including the terminator, then UTF-16LE with the terminator; empty is length 0."""
    if not text:
        return struct.pack("<I", 0)
    encoded = (text + "\0").encode("utf-16-le")
    return struct.pack("<I", len(encoded) // 2) + encoded


def message(command_id: int, payload: bytes) -> bytes:
    return HEADER.pack(MAGIC, HEADER.size + len(payload), EVENTPIPE, command_id, 0) + payload


def diagnostics_socket(pid: int) -> str:
    directory = os.environ.get("TMPDIR", "/tmp")
    sockets = glob.glob(os.path.join(directory, f"dotnet-diagnostic-{pid}-*-socket"))
    if not sockets:
        raise RuntimeError(f"no diagnostics socket for pid {pid} in {directory} (is DOTNET_EnableDiagnostics=0?)")
    return max(sockets, key=os.path.getmtime)


def request(path: str, data: bytes) -> tuple[socket.socket, bytes]:
    """Sends one command and returns the open connection and the reply payload (8 bytes for these commands)."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(30)
    conn.connect(path)
    conn.sendall(data)
    reply = b""
    while len(reply) < HEADER.size + 8:
        chunk = conn.recv(HEADER.size + 8 - len(reply))
        if not chunk:
            raise RuntimeError(f"the diagnostics port closed the connection after {len(reply)} bytes")
        reply += chunk
    _, _, command_set, command_id, _ = HEADER.unpack(reply[:HEADER.size])
    if (command_set, command_id) != SERVER_OK:
        raise RuntimeError(f"the diagnostics port refused the command (error {reply[HEADER.size:].hex()})")
    return conn, reply[HEADER.size:]


def drain(conn: socket.socket) -> None:
    """Reads the session's trace stream to its end, so that the runtime is never blocked writing it."""
    try:
        while conn.recv(1 << 16):
            pass
    except OSError:
        pass


def force_gc(pid: int) -> None:
    path = diagnostics_socket(pid)
    provider = struct.pack("<QI", GC_KEYWORD | GC_HEAP_COLLECT_KEYWORD, INFORMATIONAL) \
        + ipc_string(RUNTIME_PROVIDER) + ipc_string("")
    # 16 MB buffer, nettrace, no rundown (it would stream every method of the process), one provider
    collect = struct.pack("<IIBI", 16, NETTRACE_FORMAT, 0, 1) + provider
    session, session_id = request(path, message(COLLECT_TRACING_2, collect))
    with session:
        reader = threading.Thread(target=drain, args=(session,), daemon=True)
        reader.start()
        time.sleep(0.5)  # the collection runs as the session starts; leave it time to finish
        stopper, _ = request(path, message(STOP_TRACING, session_id))
        stopper.close()
        reader.join(timeout=30)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: force_gc.py PID")
    try:
        force_gc(int(sys.argv[1]))
    except (OSError, RuntimeError) as problem:
        sys.exit(f"force_gc.py: {problem}")
