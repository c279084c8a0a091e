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


# -- stopping by itself: the deadline, a silent harness, SIGTERM with a grace period ----------

#: An agent that ignores SIGTERM (recording that it got it), starts a grandchild that does too,
#: writes both pids and then sleeps: only SIGKILL ends it.
_STUBBORN = """
import os, pathlib, signal, subprocess, sys, time
out = pathlib.Path(sys.argv[1])
def note(_s, _f):
    with (out / "sigterm").open("a") as f:
        f.write("x")
signal.signal(signal.SIGTERM, note)
code = "import signal,time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
child = subprocess.Popen([sys.executable, "-c", code])
(out / "pids").write_text(f"{os.getpid()} {child.pid}")
while True:
    time.sleep(0.1)
"""


def _stubborn(tmp_path: Path, **env: str) -> tuple[subprocess.Popen[str], list[int]]:
    agent = tmp_path / "stubborn.py"
    agent.write_text(_STUBBORN)
    proc = subprocess.Popen(
        [sys.executable, str(INIT), sys.executable, str(agent), str(tmp_path)],
        env={**os.environ, "REXMLE_GATEWAY_PORT": str(_free_port()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pids = tmp_path / "pids"
    deadline = time.monotonic() + 20
    while not pids.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return proc, [int(p) for p in pids.read_text().split()]


def test_deadline_stops_an_agent_that_ignores_sigterm_after_the_grace(tmp_path: Path) -> None:
    """At REXMLE_INIT_DEADLINE the agent's group gets one SIGTERM, SIGKILL a grace period later,
    and PID 1 exits: nothing it started is left, whatever the agent does with SIGTERM."""
    grace = 1.0
    deadline = time.time() + 2.0
    proc, pids = _stubborn(tmp_path, REXMLE_INIT_DEADLINE=f"{deadline:.3f}", REXMLE_INIT_GRACE_S=str(grace))
    assert proc.poll() is None and time.time() < deadline, "the agent ran until the deadline"
    _out, err = proc.communicate(timeout=deadline + grace + 10 - time.time())
    ended = time.time()
    assert proc.returncode == 128 + signal.SIGKILL, err
    assert deadline + grace - 0.2 <= ended <= deadline + grace + 2.0, (ended - deadline, err)
    assert (tmp_path / "sigterm").read_text() == "x", "exactly one SIGTERM before the SIGKILL"
    assert "deadline reached" in err
    assert all(_gone(pid) for pid in pids)


def test_agent_does_not_see_the_init_settings(tmp_path: Path) -> None:
    env = {
        "REXMLE_INIT_DEADLINE": f"{time.time() + 60:.3f}",
        "REXMLE_INIT_GRACE_S": "1",
        "REXMLE_SEED": "3",
    }
    code = "import json,os; print(json.dumps(sorted(k for k in os.environ if k.startswith('REXMLE_'))))"
    proc = subprocess.Popen(
        [sys.executable, str(INIT), sys.executable, "-c", code],
        env={**os.environ, "REXMLE_GATEWAY_PORT": str(_free_port()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    seen = json.loads(out)
    assert "REXMLE_SEED" in seen and not [k for k in seen if k.startswith("REXMLE_INIT_")]


def test_sigterm_escalates_to_sigkill_after_the_grace(tmp_path: Path) -> None:
    """A stop from outside (the engine's SIGTERM) gets the same treatment: one SIGTERM to the
    group, SIGKILL after the grace, even if whoever sent it never follows up."""
    proc, pids = _stubborn(tmp_path, REXMLE_INIT_GRACE_S="1")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)  # a second stop does not signal the agent again
    assert proc.wait(timeout=15) == 128 + signal.SIGKILL
    assert 0.9 <= time.monotonic() - t0 <= 4.0
    assert (tmp_path / "sigterm").read_text() == "x"
    assert all(_gone(pid) for pid in pids)


def test_a_silent_harness_stops_the_agent(tmp_path: Path) -> None:
    """The harness touches the heartbeat file while it lives; once it stops (a SIGKILLed
    harness), PID 1 stops the agent after REXMLE_INIT_ORPHAN_AFTER_S."""
    beat = tmp_path / "alive"
    beat.touch()
    stop = threading.Event()

    def harness() -> None:
        while not stop.wait(0.2):
            os.utime(beat)

    threading.Thread(target=harness, daemon=True).start()
    proc, pids = _stubborn(
        tmp_path, REXMLE_INIT_HEARTBEAT=str(beat), REXMLE_INIT_ORPHAN_AFTER_S="1.5", REXMLE_INIT_GRACE_S="0.5"
    )
    time.sleep(3.0)  # twice the allowance: a harness that keeps beating keeps its agent
    assert proc.poll() is None
    assert not (tmp_path / "sigterm").exists()
    stop.set()
    silent_since = time.monotonic()
    _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGKILL
    assert 1.5 <= time.monotonic() - silent_since <= 1.5 + 0.5 + 3.0
    assert "no word from the harness" in err
    assert all(_gone(pid) for pid in pids)


def test_an_agent_that_finishes_in_time_keeps_its_exit_code(tmp_path: Path) -> None:
    beat = tmp_path / "alive"
    beat.touch()
    env = {
        "REXMLE_INIT_DEADLINE": f"{time.time() + 30:.3f}",
        "REXMLE_INIT_HEARTBEAT": str(beat),
        "REXMLE_INIT_ORPHAN_AFTER_S": "30",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            str(INIT),
            sys.executable,
            "-c",
            "import time; time.sleep(1.5); raise SystemExit(5)",
        ],
        env={**os.environ, "REXMLE_GATEWAY_PORT": str(_free_port()), **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 5 and "stopping" not in err
