"""The Docker runtime against a real engine: images, end-to-end runs, and the sandbox's walls.

Marker ``docker`` (``make test-docker``; .ci/run starts dockerd first). The images are built
from a root filesystem imported without any registry (``rexmle images rootfs``), once per
engine: tags are content hashes, so later sessions reuse them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from diskhog_check import AGENTS, check_disk_hog  # tests/runtime/diskhog_check.py

from rexmle import agent as agents
from rexmle import run as runs
from rexmle.runtime import images
from rexmle.runtime.docker import DISK_POLL_S, HARNESS_LABEL, DockerRuntime
from rexmle.store import RunDir, RunSpec

pytestmark = pytest.mark.docker

ROOT = images.OFFLINE_ROOT
MiB = 2**20


@pytest.fixture(scope="module")
def engine() -> Iterator[object]:
    try:
        c = images.client()
    except images.EngineUnavailable as exc:
        if os.environ.get("CI"):
            raise  # CI starts dockerd: a missing engine there is a failure, not a skip
        pytest.skip(f"no Docker engine (start one with `bash .ci/engines`): {exc}")
    if images.find_image(c, ROOT) is None:
        done = subprocess.run(
            [sys.executable, "-m", "rexmle.cli", "images", "rootfs"], capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
    yield c


@pytest.fixture
def docker_home(engine: object, home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REXMLE_IMAGE_ROOT", ROOT)
    return home


def test_doctor_reports_the_engine_its_gpu_runtimes_and_the_root_image(docker_home: Path) -> None:
    """`rexmle doctor` against the running engine: the engine is ok with its storage driver, GPU
    runtimes are reported as found or with the toolkit to install, and the root image the tests
    imported is found."""
    from rexmle import doctor

    checks = {c.component: c for c in doctor.check_docker()}
    assert list(checks) == ["docker engine", "docker GPUs", "root image"]
    assert checks["docker engine"].status == "ok" and ", storage " in checks["docker engine"].detail
    gpus = checks["docker GPUs"]
    assert (gpus.status, gpus.fix == "") in (("ok", True), ("warning", False))
    assert checks["root image"].status == "ok" and checks["root image"].detail == ROOT


def _spec(agent: str, **budget: object) -> RunSpec:
    spec = runs.make_spec("isles22", agent, runtime="docker", synthetic=True, **_llm(agent))
    if budget:
        spec = spec.model_copy(update={"budgets": spec.budgets.model_copy(update=budget)})
    return spec


def _llm(agent: str) -> dict[str, object]:
    return {"llm": "scripted"} if agent == "jailbreak" else {}


def _with_settings(spec: RunSpec, **settings: object) -> RunSpec:
    return spec.model_copy(update={"settings": {**spec.settings, **settings}})


def _report(spec: RunSpec, home: Path) -> dict[str, object]:
    return json.loads((runs.run_dir(spec, home) / "sandbox" / "logs" / "jailbreak.json").read_text())


@pytest.mark.parametrize("agent", ["dummy", "baseline"])
def test_builtin_agents_run_in_docker_graded_and_ranked(docker_home: Path, agent: str) -> None:
    spec = _spec(agent)
    result = runs.execute(spec, home=docker_home)
    assert result.state.value == "done", RunDir(runs.run_dir(spec, docker_home)).agent_log.read_text()[-2000:]
    assert result.valid and result.percentile is not None and result.rank is not None
    assert result.isolation == "container"
    record = json.loads((runs.run_dir(spec, docker_home) / "run.json").read_text())
    assert record["image"].startswith(f"rexmle/agent-{agent}:")
    assert record["image_id"].startswith("sha256:")
    info = record["runtime_info"]
    assert info["network"] == "none" and info["user"] == "1000:1000" and info["read_only_root"]
    assert info["image_id"] == record["image_id"]
    assert not engine_containers(spec.run_id), "the container must be removed after the run"
    if agent == "baseline":
        dummy = runs.execute(_spec("dummy"), home=docker_home)
        assert result.metrics["dice"] > dummy.metrics["dice"]


def engine_containers(run_id: str) -> list[str]:
    c = images.client()
    return [x.name for x in c.containers.list(all=True, filters={"label": f"org.rexmle.run={run_id}"})]


class _Listener:
    """A TCP listener of ours that records every connection it accepts."""

    def __init__(self, host: str = "127.0.0.1", netns: str | None = None) -> None:
        self.accepted = 0
        if netns is None:
            self.sock = socket.socket()
            self.sock.bind((host, 0))
            self.sock.listen(8)
            self.port = self.sock.getsockname()[1]
            threading.Thread(target=self._serve, daemon=True).start()
            self.proc = None
        else:  # a listener process inside the network namespace
            code = (
                "import socket,sys;s=socket.socket();s.bind((sys.argv[1],0));s.listen(8);"
                "print(s.getsockname()[1],flush=True);n=0\n"
                "while True:\n c,_=s.accept();n+=1;print('accepted',n,flush=True);c.close()"
            )
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", netns, sys.executable, "-c", code, host],
                stdout=subprocess.PIPE,
                text=True,
            )
            assert self.proc.stdout is not None
            self.port = int(self.proc.stdout.readline())

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def close(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        else:
            self.sock.close()


@pytest.fixture
def netns() -> Iterator[tuple[str, str]]:
    """A network namespace of our own, 10.231.7.2, joined to the host by a veth pair."""
    name, host_if, ns_if = "rxmle-test", "rxmle-h0", "rxmle-n0"
    cmds = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_if, "type", "veth", "peer", "name", ns_if],
        ["ip", "link", "set", ns_if, "netns", name],
        ["ip", "addr", "add", "10.231.7.1/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", name, "ip", "addr", "add", "10.231.7.2/30", "dev", ns_if],
        ["ip", "netns", "exec", name, "ip", "link", "set", ns_if, "up"],
        ["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"],
    ]
    subprocess.run(["ip", "netns", "del", name], capture_output=True)
    subprocess.run(["ip", "link", "del", host_if], capture_output=True)
    try:
        for cmd in cmds:
            subprocess.run(cmd, check=True, capture_output=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        if os.environ.get("CI"):
            raise  # CI runs as root with iproute2 (.ci/engines): this must work there
        pytest.skip(f"cannot create a network namespace here (needs root and iproute2): {exc}")
    try:
        yield name, "10.231.7.2"
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)


def test_sandbox_walls_hold(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch, netns: tuple[str, str], prepared: Path
) -> None:
    """Private labels and provider keys are unreachable, only the mounts are writable, and
    the gateway is the only reachable listener (ours on the host loopback and one in another
    network namespace are not)."""
    secret = "sk-provider-secret-" + os.urandom(8).hex()
    monkeypatch.setenv("OPENAI_API_KEY", secret)
    monkeypatch.setenv("ANTHROPIC_API_KEY", secret)
    host_listener = _Listener("127.0.0.1")
    ns_name, ns_addr = netns
    ns_listener = _Listener(ns_addr, netns=ns_name)
    try:
        # positive control: from the host, the namespace's listener is reachable
        with socket.create_connection((ns_addr, ns_listener.port), timeout=3):
            pass
        private_names = sorted(p.name for p in (prepared / "private").rglob("*") if p.is_file())
        spec = _with_settings(
            _spec("jailbreak"),
            targets=[["127.0.0.1", host_listener.port], [ns_addr, ns_listener.port]],
            secrets=[[secret[:12], secret[12:]]],
            private_names=private_names,
        )
        result = runs.execute(spec, home=docker_home)
    finally:
        host_listener.close()
        ns_listener.close()
    report = _report(spec, docker_home)
    assert result.valid and result.state.value == "done"
    assert report["uid"] == 1000
    assert report["gateway"] == {"ok": True, "value": "pong"}
    assert report["validate"]["ok"] and '"valid": true' in report["validate"]["value"]
    assert report["interfaces"] == ["lo"]
    for target, outcome in report["targets"].items():
        assert not outcome["ok"], f"{target} was reachable from the sandbox: {outcome}"
    assert host_listener.accepted == 0
    assert report["secrets_found"] == [] and report["files_scanned"] > 100
    assert private_names and report["private_visible"] == []
    writes = report["writes"]
    for path in ("/etc/rexmle-x", "/opt/rexmle/x", "/home/data/x", "/home/x", "/x", "/usr/x"):
        assert not writes[path]["ok"], f"{path} was writable"
    for path in ("/home/submission/x", "/home/code/x", "/tmp/x"):
        assert writes[path]["ok"], writes[path]
    ledger = (runs.run_dir(spec, docker_home) / "llm.jsonl").read_text()
    assert secret not in ledger and secret not in (runs.run_dir(spec, docker_home) / "agent.log").read_text()


def test_memory_bomb_is_killed_and_recorded(docker_home: Path) -> None:
    spec = _with_settings(_spec("jailbreak", memory_gb=0.25), mode="oom")
    result = runs.execute(spec, home=docker_home)
    record = json.loads((runs.run_dir(spec, docker_home) / "run.json").read_text())
    assert result.stopped == "memory" and record["stopped"] == "memory"
    assert "out-of-memory" in record["error"]
    assert result.valid, "the submission written before the bomb is still graded"
    assert _report(spec, docker_home)["allocated_mib"] <= 256


def test_pids_limit_holds(docker_home: Path) -> None:
    spec = _with_settings(_spec("jailbreak", pids=32), mode="forkbomb", forks=100)
    result = runs.execute(spec, home=docker_home)
    report = _report(spec, docker_home)
    assert report["error"] == "EAGAIN" and report["started"] < 32
    assert result.valid


def test_wall_clock_kills_within_5s_and_partial_submission_is_graded(docker_home: Path) -> None:
    """The sleeper writes a submission, ignores SIGTERM and never ends."""
    spec = runs.make_spec("isles22", "sleeper", runtime="docker", synthetic=True, time_limit_s=8)
    t0 = time.monotonic()
    result = runs.execute(spec, home=docker_home)
    record = json.loads((runs.run_dir(spec, docker_home) / "run.json").read_text())
    assert result.state.value == "timed_out" and result.stopped == "time_limit"
    assert result.agent_time_s < 8 + 5, result.agent_time_s
    assert time.monotonic() - t0 < 60
    assert record["agent_ended_at"] is not None
    assert result.valid and result.percentile is not None
    assert not engine_containers(spec.run_id)


def test_interrupted_harness_removes_its_container(docker_home: Path) -> None:
    """SIGTERM to `rexmle run` stops and removes the container and leaves a consistent record."""
    env = {**os.environ, "REXMLE_HOME": str(docker_home)}
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", "sleeper", "--challenge", "isles22"]
    cmd += ["--synthetic", "--runtime", "docker", "--time-limit", "200", "--seed", "7"]
    spec = runs.make_spec("isles22", "sleeper", runtime="docker", synthetic=True, time_limit_s=200, seed=7)
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not engine_containers(spec.run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert engine_containers(spec.run_id), proc.communicate(timeout=5)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert not engine_containers(spec.run_id)
    record = json.loads((runs.run_dir(spec, docker_home) / "run.json").read_text())
    assert record["state"] == "interrupted" and "interrupted" in record["error"]


def test_containers_of_a_dead_harness_are_reaped(engine: object, docker_home: Path) -> None:
    c = images.client()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    label = f"{socket.gethostname()}:{dead.pid}:0"
    image = images.find_image(c, ROOT)
    assert image is not None
    leftover = c.containers.create(ROOT, ["sleep", "60"], labels={HARNESS_LABEL: label}, network_mode="none")
    try:
        removed = DockerRuntime().reap_stale()
        assert leftover.name in removed
    finally:
        with contextlib.suppress(Exception):
            leftover.remove(force=True)


def test_aide_runs_offline_in_a_networkless_container(docker_home: Path) -> None:
    """A real LLM scaffold (AIDE, scripted LLM) talks to the gateway only through the socket
    forwarder; its best node's submission is collected and graded."""
    spec = runs.make_spec("isles22", "aide", runtime="docker", synthetic=True, llm="scripted")
    result = runs.execute(spec, home=docker_home)
    log = RunDir(runs.run_dir(spec, docker_home)).agent_log.read_text()
    assert result.state.value == "done" and result.valid, log[-3000:]
    assert result.llm_calls >= 6 and "published node" in log
    calls = [json.loads(line) for line in (runs.run_dir(spec, docker_home) / "llm.jsonl").open()]
    assert all(c["status"] == 200 for c in calls)


def test_images_cli_builds_and_lists_by_content_tag(docker_home: Path) -> None:
    from typer.testing import CliRunner

    from rexmle.cli import app

    built = CliRunner().invoke(app, ["images", "build", "--agent", "dummy", "--json"])
    assert built.exit_code == 0, built.output
    (ref,) = json.loads(built.stdout)
    assert ref["tag"].startswith("rexmle/agent-dummy:") and ref["image_id"].startswith("sha256:")
    again = json.loads(CliRunner().invoke(app, ["images", "build", "--agent", "dummy", "--json"]).stdout)
    assert again == [ref]  # same inputs, same tag, nothing rebuilt
    listed = json.loads(CliRunner().invoke(app, ["images", "list", "--json"]).stdout)
    assert ref["tag"] in {row["tag"] for row in listed}


def test_an_interrupt_between_create_and_start_leaves_no_container(docker_home: Path, prepared: Path) -> None:
    """The narrowest window: the engine made the container, the harness has no handle yet."""
    from rexmle.runtime.base import SandboxSpec

    class Interrupted(DockerRuntime):
        def _create_and_start(self, spec: SandboxSpec, config: dict, root: Path, log: object) -> object:  # type: ignore[override]
            self.client.containers.create(**config)
            raise KeyboardInterrupt

    rt = Interrupted()
    ref = rt.prepare_image(agents.get("dummy"), 0, docker_home, docker_home / "build.log")
    spec = _spec("dummy")
    sandbox = SandboxSpec(
        run_id=spec.run_id + "-int",
        command=["true"],
        env={},
        public_dir=prepared / "public",
        workdir=docker_home / "int-sandbox",
        instructions="x",
        budgets=spec.budgets,
        log_path=docker_home / "int.log",
        image=ref.tag,
    )
    with pytest.raises(KeyboardInterrupt):
        rt.start(sandbox)
    assert not engine_containers(sandbox.run_id)


@pytest.fixture
def hog_home(docker_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("REXMLE_AGENTS_PATH", os.pathsep.join([os.environ["REXMLE_AGENTS_PATH"], str(AGENTS)]))
    return docker_home


@pytest.mark.parametrize(
    ("plan", "rate"),
    [([["code", 40]] * 5, 0), ([["tmp", 40], ["code", 200]], 10), ([["code", 200]], 0)],
    ids=["fast-writer", "paced-with-tmpfs", "one-big-file"],
)
def test_disk_hog_is_stopped_and_its_files_deleted(
    hog_home: Path, plan: list[list[object]], rate: float
) -> None:
    """0.05 GiB of disk; the hog writes 200 MiB. The fast one (five files, at disk speed) is
    through before the first measurement; the paced one (10 MiB/s) fills 40 MiB of /tmp first:
    the tmpfs counts, so it is stopped before its code folder alone reaches the budget, past
    the budget by no more than a poll interval (plus the kill) of writing; one big file stops
    at the budget itself (RLIMIT_FSIZE)."""
    report = check_disk_hog("docker", images.client(), hog_home, plan, rate)
    if rate:
        assert 0 < report["overshoot"] <= rate * MiB * (DISK_POLL_S + 3), report
    elif len(plan) > 1:
        assert report["overshoot"] > 0, report
    else:
        assert report["overshoot"] <= 0 and "File too large" in report["error"], report


def _running(run_id: str) -> list[str]:
    """`docker ps`: the run's containers that are running."""
    c = images.client()
    return [x.name for x in c.containers.list(filters={"label": f"org.rexmle.run={run_id}"})]


@pytest.mark.parametrize("why", ["deadline", "heartbeat"])
def test_a_sigkilled_harness_leaves_no_running_container(
    docker_home: Path, monkeypatch: pytest.MonkeyPatch, why: str
) -> None:
    """`rexmle run` SIGKILLed mid-run cannot stop its sandbox: the sandbox's PID 1 does, at the
    deadline (or once the harness's heartbeat is silent) plus the grace, even though the
    sleeper ignores SIGTERM. The remains are reaped at the next start."""
    limit, seed = (12, 11) if why == "deadline" else (300, 12)
    if why == "heartbeat":
        monkeypatch.setenv("REXMLE_ORPHAN_AFTER_S", "5")
    grace = float(os.environ["REXMLE_STOP_GRACE_S"])
    rt = DockerRuntime()
    rt.prepare_image(agents.get("sleeper"), 0, docker_home, docker_home / "build.log")  # not timed
    env = {**os.environ, "REXMLE_HOME": str(docker_home)}
    cmd = [sys.executable, "-m", "rexmle.cli", "run", "--agent", "sleeper", "--challenge", "isles22"]
    cmd += ["--synthetic", "--runtime", "docker", "--time-limit", str(limit), "--seed", str(seed)]
    spec = runs.make_spec(
        "isles22", "sleeper", runtime="docker", synthetic=True, time_limit_s=limit, seed=seed
    )
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    until = time.monotonic() + 120
    while not _running(spec.run_id) and time.monotonic() < until and proc.poll() is None:
        time.sleep(0.1)
    assert _running(spec.run_id), proc.communicate(timeout=5)
    (name,) = _running(spec.run_id)
    box = images.client().containers.get(name)
    box_env = dict(e.split("=", 1) for e in box.attrs["Config"]["Env"])
    time.sleep(1.0)  # the agent is up
    proc.kill()
    proc.wait(timeout=10)
    killed = time.time()
    time.sleep(1.0)
    assert _running(spec.run_id), "the harness's death alone stops nothing"
    while _running(spec.run_id) and time.time() < killed + limit + 30:
        time.sleep(0.2)
    gone = time.time()
    assert not _running(spec.run_id)
    if why == "deadline":
        init_deadline = float(box_env["REXMLE_INIT_DEADLINE"])  # the harness's deadline + 1 s
        assert init_deadline - 0.5 <= gone <= init_deadline + grace + 3, gone - init_deadline
    else:
        assert 3 <= gone - killed <= 5 + 1 + grace + 3, gone - killed
    print(f"{why}: container gone {gone - killed:.1f} s after the harness was SIGKILLed")
    # the next start (any run) reaps what the dead harness left
    assert name in rt.reap_stale()
    assert not engine_containers(spec.run_id)


def test_random_kills_of_docker_runs_lose_nothing_and_resume(
    docker_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chaos on the Docker runtime (tests/chaos.py): 20 SIGKILLs of ``rexmle run --runtime docker``
    at random moments, then resume; afterwards no sandbox container of ours is left running."""
    from chaos import run_chaos

    home = tmp_path / "home"
    monkeypatch.setenv("REXMLE_HOME", str(home))
    phases = run_chaos(home, "docker", kills=20, max_delay_s=8.0, seed=7)
    print(f"kills by phase: {dict(phases)}")
    client = images.client()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and client.containers.list(filters={"label": HARNESS_LABEL}):
        time.sleep(1)
    assert client.containers.list(filters={"label": HARNESS_LABEL}) == []
