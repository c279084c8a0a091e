"""The disk budget's parts that need no engine: measuring a sandbox, the watch thread, cleaning
up after an over-budget agent (never through a symlink), and how the run records it."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from fixed_engine import FixedEngine  # tests/runtime/fixed_engine.py

from rexmle import run as runs
from rexmle.runtime import docker as rt
from rexmle.runtime.base import ExitStatus

MiB = 2**20


def _write(path: Path, n: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        f.write(os.urandom(n))
        f.flush()
        os.fsync(f.fileno())
    return path


def test_tree_bytes_counts_blocks_once_and_follows_no_symlink(tmp_path: Path) -> None:
    box, outside = tmp_path / "box", tmp_path / "outside"
    big = _write(box / "a" / "b" / "data.bin", 3 * MiB)
    os.link(big, box / "hardlink.bin")  # the same blocks: counted once
    with (box / "sparse.bin").open("wb") as f:  # 1 GiB long, nothing in it
        f.truncate(2**30)
    _write(outside / "huge.bin", 8 * MiB)
    (box / "to-outside").symlink_to(outside, target_is_directory=True)
    (box / "to-file").symlink_to(outside / "huge.bin")
    used = rt.tree_bytes([box])
    assert 3 * MiB <= used < 3 * MiB + 256 * 1024, used
    assert rt.tree_bytes([box, outside]) >= 11 * MiB


def test_tree_bytes_sees_into_a_folder_hidden_with_chmod(tmp_path: Path) -> None:
    hidden = tmp_path / "box" / "hidden"
    _write(hidden / "x.bin", 2 * MiB)
    hidden.chmod(0)
    try:
        assert rt.tree_bytes([tmp_path / "box"]) >= 2 * MiB
    finally:
        hidden.chmod(0o700)


def test_wipe_and_trim_never_leave_the_sandbox(tmp_path: Path) -> None:
    box, outside = tmp_path / "box", tmp_path / "outside"
    keep = _write(outside / "precious.bin", 1000)
    (outside / "dir").mkdir()
    _write(outside / "dir" / "also.bin", 1000)
    code, logs = box / "code", box / "logs"
    _write(code / "deep" / "x.bin", 5000)
    (code / "deep").chmod(0)  # an agent's unreadable folder goes too
    (code / "link").symlink_to(outside / "dir", target_is_directory=True)
    (code / "flink").symlink_to(keep)
    small = _write(logs / "run" / "small.txt", 2000)
    _write(logs / "big.txt", 2 * MiB)
    (logs / "lnk").symlink_to(keep)
    rt.wipe(code)
    rt.trim_logs(logs)
    assert code.is_dir() and not list(code.iterdir())
    assert small.exists() and not (logs / "big.txt").exists() and not (logs / "lnk").is_symlink()
    assert keep.read_bytes() and (outside / "dir" / "also.bin").exists()
    rt.wipe(box / "code", keep_root=False)
    assert not code.exists()


def test_trim_logs_keeps_the_smallest_up_to_the_total(tmp_path: Path) -> None:
    for i in range(5):
        _write(tmp_path / f"f{i}.txt", (i + 1) * 100_000)
    rt.trim_logs(tmp_path, keep_file=450_000, keep_total=650_000)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f0.txt", "f1.txt", "f2.txt"]


def test_disk_watch_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "DISK_POLL_S", 0.05)
    seen: list[int] = []
    lock = threading.Lock()

    def measure() -> int:
        with lock:
            seen.append(len(seen) * 10)
            return seen[-1]

    watch = rt.DiskWatch(measure, limit=35).start()
    assert watch.exceeded.wait(10)
    time.sleep(0.2)
    watch.stop()
    assert watch.used == 40 and seen == [0, 10, 20, 30, 40]  # measured no more once over


def test_a_slow_scan_is_repeated_less_often(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(rt, "DISK_POLL_S", 0.01)
    monkeypatch.setattr(rt, "DISK_SCAN_SHARE", 0.25)  # a 0.1 s scan: one every 0.4 s
    calls: list[float] = []

    def measure() -> int:
        calls.append(time.monotonic())
        time.sleep(0.1)
        return 0

    watch = rt.DiskWatch(measure, limit=1).start()
    time.sleep(1.3)
    watch.stop()
    assert 2 <= len(calls) <= 4, calls


MOUNTINFO = """\
812 700 0:88 / / ro,relatime master:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
813 812 0:91 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
814 812 0:92 / /dev rw,nosuid - tmpfs tmpfs rw,size=65536k,mode=755
818 814 0:95 / /dev/shm rw,nosuid,nodev,noexec,relatime - tmpfs shm rw,size=65536k
819 812 254:1 /run/sandbox/logs /home/logs rw,relatime - ext4 /dev/vda rw
821 812 0:97 / /tmp rw,nosuid,nodev,relatime - tmpfs tmpfs rw,size=53687k
822 812 0:98 / /var/tmp rw,nosuid,nodev - tmpfs tmpfs rw
823 812 0:98 / /var/my\040tmp rw,nosuid,nodev - tmpfs tmpfs rw
824 812 0:99 / /run/secrets ro,nosuid - tmpfs tmpfs rw
825 812 0:100 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw
"""


def test_writable_tmpfs_are_the_containers_scratch_in_memory() -> None:
    assert rt.writable_tmpfs(MOUNTINFO) == ["/tmp", "/var/tmp"]


def test_tmpfs_used_reads_a_live_process_and_not_a_reused_pid(tmp_path: Path) -> None:
    pid = os.getpid()
    assert rt.tmpfs_used(pid, rt._proc_start(pid)) >= 0
    assert rt.tmpfs_used(pid, "not-its-start-time") == 0
    assert rt.tmpfs_used(None, None) == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T10:00:00.123456789Z", 1714557600.123456789),  # Docker
        ("2024-05-01T12:00:00.5+02:00", 1714557600.5),  # Podman
        ("2024-05-01T10:00:00Z", 1714557600.0),
        ("0001-01-01T00:00:00Z", None),  # never finished
        ("", None),
    ],
)
def test_finished_at_parses_both_engines(text: str, expected: float | None) -> None:
    got = rt._finished_at({"FinishedAt": text})
    assert got == pytest.approx(expected, abs=1e-6) if expected is not None else got is None


def test_the_run_records_a_disk_stop() -> None:
    status = ExitStatus(exit_code=137, timed_out=False, agent_time_s=1.0, disk_exceeded=True)
    assert runs._why_stopped(status) == "disk"
    assert runs._why_stopped(status.model_copy(update={"disk_exceeded": False})) is None


def test_container_config_gives_pid1_the_deadline_and_the_heartbeat(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As data, no engine: PID 1 learns the deadline (a second after the harness's), the grace
    and the heartbeat file (mounted read-only); /tmp and any one file are no larger than the
    disk budget; a writable root asks for a size-limited layer."""
    from rexmle.challenge import Budgets
    from rexmle.runtime.base import SandboxSpec

    monkeypatch.setenv("REXMLE_STOP_GRACE_S", "4")
    monkeypatch.setenv("REXMLE_ORPHAN_AFTER_S", "45")
    (tmp_path / "public").mkdir()
    spec = SandboxSpec(
        run_id="r1",
        command=["true"],
        env={},
        public_dir=tmp_path / "public",
        workdir=tmp_path / "sandbox",
        instructions="x",
        budgets=Budgets(wall_time_s=600, cpus=1, memory_gb=4, disk_gb=0.5),
        log_path=tmp_path / "agent.log",
        image="rexmle/agent-x:1",
    )
    runtime = FixedEngine()
    cfg = runtime.container_config(spec, deadline=1_000_000.0)
    env = cfg["environment"]
    assert env["REXMLE_INIT_DEADLINE"] == "1000001.000" and env["REXMLE_INIT_GRACE_S"] == "4"
    assert env["REXMLE_INIT_ORPHAN_AFTER_S"] == "45"
    beat = rt.heartbeat_file(spec.workdir)
    assert env["REXMLE_INIT_HEARTBEAT"] == f"{rt.HEARTBEAT_DIR}/{beat.name}"
    mounts = {m["Target"]: m for m in cfg["mounts"]}
    assert mounts[rt.HEARTBEAT_DIR]["Source"] == str(beat.parent) and mounts[rt.HEARTBEAT_DIR]["ReadOnly"]
    assert cfg["tmpfs"]["/tmp"].endswith(f"size={2**29}")  # min(memory / 4, disk)
    (fsize,) = cfg["ulimits"]
    assert fsize["Name"] == "fsize" and fsize["Soft"] == fsize["Hard"] == 2**29
    assert "storage_opt" not in cfg
    writable = runtime.container_config(spec.model_copy(update={"read_only_root": False}))
    assert writable["storage_opt"] == {"size": str(2**29)}
    assert 599 <= float(writable["environment"]["REXMLE_INIT_DEADLINE"]) - time.time() <= 602
    # Podman: no --ulimit (it would drop containers.conf's default_ulimits)
    assert "ulimits" not in FixedEngine(podman=True).container_config(spec)
