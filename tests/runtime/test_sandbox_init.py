"""sandbox_init.py, the containers' PID 1: the loopback forwarder and the agent's process group.

Run here as a plain process (it is stdlib only): a Unix-socket HTTP server of ours stands in for
the gateway, and the forwarder's port is a free one instead of the sandbox's 7700.
"""

from __future__ import annotations

import http.server
import json
import os
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

INIT = Path(__file__).parents[2] / "rexmle" / "runtime" / "sandbox_init.py"


class _UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


class _Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        payload = json.dumps({"path": self.path, "got": body.decode(), "auth": self.headers["Authorization"]})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload.encode())

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def gateway_socket(tmp_path: Path) -> Iterator[Path]:
    sock = tmp_path / "gw.sock"
    server = _UnixHTTP(str(sock), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield sock
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _init(args: list[str], sock: Path | None, port: int) -> subprocess.Popen[str]:
    env = {**os.environ, "REXMLE_GATEWAY_PORT": str(port)}
    if sock is not None:
        env["REXMLE_GATEWAY_SOCKET"] = str(sock)
    return subprocess.Popen(
        [sys.executable, str(INIT), *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def test_forwards_loopback_http_to_the_gateway_socket(gateway_socket: Path) -> None:
    port = _free_port()
    client = (
        "import json,sys,urllib.request;"
        f"r=urllib.request.Request('http://127.0.0.1:{port}/v1/chat/completions',data=b'x'*200000,"
        "headers={'Authorization':'Bearer rxm-t','Content-Type':'application/json'});"
        "print(json.dumps(json.load(urllib.request.urlopen(r,timeout=10))))"
    )
    proc = _init([sys.executable, "-c", client], gateway_socket, port)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    answer = json.loads(out)
    assert answer["path"] == "/v1/chat/completions"
    assert answer["got"] == "x" * 200000  # bodies larger than one buffer arrive whole
    assert answer["auth"] == "Bearer rxm-t"


def test_exit_code_and_signal_status_are_the_agents() -> None:
    port = _free_port()
    assert _init([sys.executable, "-c", "raise SystemExit(7)"], None, port).wait(timeout=30) == 7
    killed = _init(
        [sys.executable, "-c", "import os,signal; os.kill(os.getpid(), signal.SIGKILL)"], None, port
    )
    assert killed.wait(timeout=30) == 128 + signal.SIGKILL


def test_sigterm_reaches_the_whole_agent_group(tmp_path: Path) -> None:
    """SIGTERM to PID 1 reaches the agent and its children; nothing outlives the agent."""
    pidfile = tmp_path / "grandchild.pid"
    agent = (
        "import subprocess,sys,time,pathlib;"
        "c=subprocess.Popen([sys.executable,'-c','import time; time.sleep(600)']);"
        f"pathlib.Path({str(pidfile)!r}).write_text(str(c.pid));time.sleep(600)"
    )
    proc = _init([sys.executable, "-c", agent], None, _free_port())
    deadline = time.monotonic() + 20
    while not pidfile.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    grandchild = int(pidfile.read_text())
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 128 + signal.SIGTERM
    assert _gone(grandchild)


def _gone(pid: int, within: float = 5.0) -> bool:
    """Exited (a zombie waiting for this machine's init to reap it counts as exited)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return True
        if state == "Z":
            return True
        time.sleep(0.05)
    return False


def test_unreachable_gateway_is_reported_not_hung(tmp_path: Path) -> None:
    port = _free_port()
    client = (
        "import urllib.request,urllib.error\n"
        "try:\n"
        f"    urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=10)\n"
        "except Exception as e:\n"
        "    print(type(e).__name__)\n"
    )
    proc = _init([sys.executable, "-c", client], tmp_path / "missing.sock", port)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert out.strip() in ("RemoteDisconnected", "URLError", "ConnectionResetError")
    assert "unreachable" in err
