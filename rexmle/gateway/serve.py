"""Run an aiohttp application on a background thread of the (synchronous) harness.

The gateway and the scripted LLM both live inside the harness process while a run lasts:
the harness keeps the provider keys in its own memory, and a stopped run takes its servers
with it. Each server gets its own event loop on a daemon thread; ``start`` returns once the
sockets are bound, so the URL handed to the agent is already live.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from pathlib import Path

from aiohttp import web

from rexmle.errors import RexmleError


class BackgroundServer:
    """Serves ``app`` on ``host:port`` (port 0 = any free one) and optionally a Unix socket."""

    def __init__(
        self, app: web.Application, host: str = "127.0.0.1", port: int = 0, unix_socket: Path | None = None
    ) -> None:
        self._app = app
        self._host = host
        self._port = port
        self._unix_socket = unix_socket
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.port: int = 0

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self._thread = threading.Thread(target=self._main, name="rexmle-http", daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise RexmleError(f"HTTP server did not start within {timeout:.0f} s")
        if self._error is not None:
            raise RexmleError(f"HTTP server could not start: {self._error}")
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self._bind())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        loop.run_forever()
        with contextlib.suppress(Exception):
            assert self._runner is not None
            loop.run_until_complete(self._runner.cleanup())
        # Background tasks of libraries on this loop (litellm's logging worker) end with it.
        pending = asyncio.all_tasks(loop)
        for task in pending:
            task.cancel()
        with contextlib.suppress(Exception):
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.close()

    async def _bind(self) -> None:
        # handler_cancellation: a client that hangs up mid-stream cancels the upstream call.
        self._runner = web.AppRunner(self._app, access_log=None, handler_cancellation=True)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._host, self._port, reuse_address=True)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = int(sockets[0].getsockname()[1])
        if self._unix_socket is not None:
            self._unix_socket.unlink(missing_ok=True)
            await web.UnixSite(self._runner, str(self._unix_socket)).start()

    def stop(self) -> None:
        if self._loop is None or self._thread is None:
            return
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=15)
        self._loop = None

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
