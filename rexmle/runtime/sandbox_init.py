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

It also stops the agent by itself, so that a sandbox never outlives its harness for long
(the harness may die by SIGKILL, which leaves it no chance to stop the container):

- at ``$REXMLE_INIT_DEADLINE`` (epoch seconds, the harness's own deadline plus a second);
- when ``$REXMLE_INIT_HEARTBEAT`` (a file the harness touches every few seconds, mounted
  read-only) has not been touched for ``$REXMLE_INIT_ORPHAN_AFTER_S`` seconds;
- and on SIGTERM from outside (the harness's or the engine's stop).

Stopping is one SIGTERM to the agent's group, then SIGKILL ``$REXMLE_INIT_GRACE_S`` seconds
later (3 s by default), and PID 1 exits, which in a container kills every process left in its
PID namespace (including any that left the agent's group). These ``REXMLE_INIT_*`` variables
are for this process only: the agent does not see them.
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
import time

BUFFER = 64 * 1024
DEFAULT_GRACE_S = 3.0
DEFAULT_ORPHAN_AFTER_S = 60.0
#: Longest sleep of the watchdog between checks of the deadline and the heartbeat.
TICK_S = 1.0


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


def _env_float(name: str) -> float | None:
    value = os.environ.get(name, "").strip()
    try:
        return float(value) if value else None
    except ValueError:
        print(f"sandbox-init: ignoring {name}={value!r} (not a number)", file=sys.stderr, flush=True)
        return None


class Watchdog:
    """Stops the agent's group once: SIGTERM, then SIGKILL after the grace period, then exits.

    ``stop`` may come from a signal handler (SIGTERM to PID 1) or from the watch thread (the
    deadline, a silent harness); either way the agent gets exactly one SIGTERM from here.
    """

    def __init__(
        self,
        pgid: int,
        grace_s: float,
        deadline: float | None = None,
        heartbeat: str | None = None,
        orphan_after_s: float = DEFAULT_ORPHAN_AFTER_S,
    ) -> None:
        self.pgid = pgid
        self.grace_s = grace_s
        self.deadline = deadline
        self.heartbeat = heartbeat
        self.orphan_after_s = orphan_after_s
        self.started = time.time()
        self.stopping = threading.Event()
        self._once = threading.Lock()
        self.code: int | None = None  # the agent's exit code once known (set by main)

    def _signal(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pgid, sig)

    def stop(self, reason: str) -> None:
        """SIGTERM the agent's group now (once); SIGKILL and exit after the grace period."""
        with self._once:
            if self.stopping.is_set():
                return
            self.stopping.set()
        print(
            f"sandbox-init: {reason}: stopping the agent (SIGKILL in {self.grace_s:g} s)",
            file=sys.stderr,
            flush=True,
        )
        self._signal(signal.SIGTERM)
        threading.Thread(target=self._escalate, daemon=True).start()

    def _escalate(self) -> None:
        time.sleep(self.grace_s)
        self._signal(signal.SIGKILL)
        # main() returns once the agent's main process is reaped; if it has not within a second,
        # exit anyway: as PID 1 that takes down everything left in the sandbox.
        time.sleep(1.0)
        os._exit(128 + signal.SIGKILL if self.code is None else _status(self.code))

    def harness_silent_for(self, now: float) -> float:
        """Seconds since the harness last touched the heartbeat file (or since we started)."""
        assert self.heartbeat is not None
        last = self.started
        with contextlib.suppress(OSError):
            last = max(last, os.stat(self.heartbeat).st_mtime)
        return now - last

    def watch(self) -> None:
        """The watch thread: stop at the deadline or when the harness falls silent."""
        while not self.stopping.is_set():
            now = time.time()
            if self.deadline is not None and now >= self.deadline:
                self.stop("deadline reached")
                return
            if self.heartbeat is not None:
                silent = self.harness_silent_for(now)
                if silent > self.orphan_after_s:
                    self.stop(f"no word from the harness for {silent:.0f} s")
                    return
            pause = TICK_S if self.deadline is None else min(TICK_S, self.deadline - now)
            self.stopping.wait(max(0.01, pause))

    def start(self) -> None:
        if self.deadline is not None or self.heartbeat is not None:
            threading.Thread(target=self.watch, daemon=True).start()


def _status(code: int) -> int:
    """A waitstatus_to_exitcode value as a shell exit status (128+signal for a signal)."""
    return 128 - code if code < 0 else code


def main(argv: list[str]) -> int:
    if not argv:
        print("usage: sandbox-init COMMAND [ARG...]", file=sys.stderr)
        return 2
    sock_path = os.environ.get("REXMLE_GATEWAY_SOCKET")
    if sock_path:
        start_forwarder(sock_path, int(os.environ.get("REXMLE_GATEWAY_PORT", "7700")))
    grace = _env_float("REXMLE_INIT_GRACE_S")
    deadline = _env_float("REXMLE_INIT_DEADLINE")
    orphan_after = _env_float("REXMLE_INIT_ORPHAN_AFTER_S")
    heartbeat = os.environ.get("REXMLE_INIT_HEARTBEAT") or None
    env = {k: v for k, v in os.environ.items() if not k.startswith("REXMLE_INIT_")}
    child = subprocess.Popen(argv, start_new_session=True, env=env)
    dog = Watchdog(
        child.pid,
        grace_s=DEFAULT_GRACE_S if grace is None else max(0.0, grace),
        deadline=deadline,
        heartbeat=heartbeat,
        orphan_after_s=DEFAULT_ORPHAN_AFTER_S if orphan_after is None else orphan_after,
    )

    def forward(signum: int, _frame: object) -> None:
        if signum == signal.SIGTERM:  # a stop from outside: one SIGTERM, SIGKILL after the grace
            dog.stop("SIGTERM")
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signum)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    dog.start()
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
            dog.code = code
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)
    return 1 if code is None else _status(code)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
