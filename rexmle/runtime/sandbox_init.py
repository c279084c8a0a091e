"""PID 1 of a container sandbox: the loopback forwarder to the gateway, then the agent.

Stdlib only: it is copied into every image as ``/opt/rexmle/bin/sandbox-init`` and runs under
the image's Python, not the harness's. Usage::

    sandbox-init COMMAND [ARG...]

The sandbox has no network (``--network none``): its only way out is the gateway's Unix
socket, bind-mounted at ``$REXMLE_GATEWAY_SOCKET``. Most clients (openai, litellm, requests)
only speak TCP, so this process listens on ``127.0.0.1:$REXMLE_GATEWAY_PORT`` inside the
sandbox's own network namespace and pipes each connection to the socket. Nothing else is
forwarded: a TCP connection to any other address has no route.

As PID 1 it also does what an init must: it runs the agent in its own process group,
forwards SIGTERM/SIGINT to that group, reaps orphans, and when the agent's main process exits
it kills whatever the agent left behind and exits with the agent's code (128+signal for a
signal), so the harness sees the agent's status and the container ends with its agent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading

BUFFER = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            chunk = await reader.read(BUFFER)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if writer.can_write_eof():
                writer.write_eof()


async def _serve(sock_path: str, listener: socket.socket) -> None:
    async def handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        try:
            up_r, up_w = await asyncio.open_unix_connection(sock_path)
        except OSError as exc:
            print(f"sandbox-init: gateway socket {sock_path} unreachable: {exc}", file=sys.stderr, flush=True)
            client_w.close()
            return
        await asyncio.gather(_pipe(client_r, up_w), _pipe(up_r, client_w))
        for w in (up_w, client_w):
            w.close()

    server = await asyncio.start_server(handle, sock=listener)
    async with server:
        await server.serve_forever()


def start_forwarder(sock_path: str, port: int) -> threading.Thread:
    """Bind 127.0.0.1:port now (so the agent never races the listener), serve on a thread."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", port))
    listener.listen(128)
    thread = threading.Thread(target=lambda: asyncio.run(_serve(sock_path, listener)), daemon=True)
    thread.start()
    return thread


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: sandbox-init COMMAND [ARG...]", file=sys.stderr)
        return 2
    sock_path = os.environ.get("REXMLE_GATEWAY_SOCKET")
    if sock_path:
        start_forwarder(sock_path, int(os.environ.get("REXMLE_GATEWAY_PORT", "7700")))
    child = subprocess.Popen(argv, start_new_session=True)

    def forward(signum: int, _frame: object) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    code: int | None = None
    while code is None:
        try:
            pid, status = os.wait()  # reaps orphans too (we are PID 1)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
        if pid == child.pid:
            code = os.waitstatus_to_exitcode(status)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    if code is None:
        code = 1
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
