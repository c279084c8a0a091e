"""The container runtimes' contract, checked as data without an engine or a binary.

The Docker runtime's ``containers.create`` arguments and the Apptainer runtime's exact command
line are built from a SandboxSpec; these tests hold them to DESIGN.md's run contract: the
public folder read-only, the private folder nowhere, the writable folders and nothing else,
no network but the gateway's socket, limits from the budget, no secrets on a command line.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from fixed_engine import FixedEngine  # tests/runtime/fixed_engine.py

from rexmle.challenge import Budgets
from rexmle.errors import ConfigError
from rexmle.runtime import apptainer, get_runtime, images
from rexmle.runtime.base import SANDBOX_PATHS, SandboxSpec

TOKEN = "rxm-token-not-for-argv"


def _spec(tmp_path: Path, gpus: int = 0, **env: str) -> SandboxSpec:
    public = tmp_path / "data" / "public"
    public.mkdir(parents=True)
    (tmp_path / "data" / "private").mkdir()
    sock = tmp_path / "gw"
    sock.mkdir()
    return SandboxSpec(
        run_id="isles22.probe.syn.s0.abc",
        command=["/opt/rexmle/venv/bin/python", "/opt/rexmle/agents/probe/run.py"],
        env={"REXMLE_LLM_API_KEY": TOKEN, **env},
        public_dir=public,
        workdir=tmp_path / "run" / "sandbox",
        instructions="# task",
        budgets=Budgets(wall_time_s=60, cpus=1, memory_gb=0.5, gpus=gpus, pids=128),
        log_path=tmp_path / "run" / "agent.log",
        image="rexmle/agent-probe:0123",
        gateway_socket_dir=sock,
    )


def test_docker_config_follows_the_contract(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    cfg = FixedEngine().container_config(spec)
    mounts = {m["Target"]: m for m in cfg["mounts"]}
    assert mounts["/home/data"]["Source"] == str(spec.public_dir.resolve())
    assert mounts["/home/data"]["ReadOnly"] and mounts["/home/instructions.md"]["ReadOnly"]
    assert mounts["/run/rexmle"]["ReadOnly"] and mounts["/run/rexmle"]["Source"] == str(
        spec.gateway_socket_dir
    )
    for target in ("/home/submission", "/home/code", "/home/logs"):
        assert not mounts[target]["ReadOnly"]
        assert mounts[target]["Source"].startswith(str(spec.workdir))
    assert not any("private" in m["Source"] for m in cfg["mounts"])
    assert cfg["network_mode"] == "none"
    assert cfg["cap_drop"] == ["ALL"] and cfg["security_opt"] == ["no-new-privileges"]
    assert cfg["read_only"] is True and "/tmp" in cfg["tmpfs"]
    assert cfg["mem_limit"] == cfg["memswap_limit"] == 2**29
    assert cfg["nano_cpus"] == 10**9 and cfg["pids_limit"] == 128
    assert "device_requests" not in cfg and "devices" not in cfg
    env = cfg["environment"]
    assert env["REXMLE_GATEWAY_SOCKET"] == "/run/rexmle/gateway.sock" and env["HOME"] == "/home/code"
    assert {k: env[k] for k in SANDBOX_PATHS} == SANDBOX_PATHS
    assert cfg["command"] == spec.command


def test_docker_gpus_follow_budget_or_the_sweeps_assignment(tmp_path: Path) -> None:
    by_count = FixedEngine().container_config(_spec(tmp_path / "a", gpus=2))
    (req,) = by_count["device_requests"]
    assert req["Count"] == 2 and req["Capabilities"] == [["gpu"]]
    assigned = FixedEngine().container_config(_spec(tmp_path / "b", gpus=1, CUDA_VISIBLE_DEVICES="3"))
    (req,) = assigned["device_requests"]
    assert req["DeviceIDs"] == ["3"] and "CUDA_VISIBLE_DEVICES" not in assigned["environment"]
    podman = FixedEngine(podman=True).container_config(
        _spec(tmp_path / "c", gpus=1, CUDA_VISIBLE_DEVICES="1")
    )
    assert podman["devices"] == ["nvidia.com/gpu=1"] and "device_requests" not in podman


def test_apptainer_command_follows_the_contract(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-provider-secret")
    monkeypatch.setenv("REXMLE_APPTAINER_CGROUPS", "1")
    spec = _spec(tmp_path, gpus=1, CUDA_VISIBLE_DEVICES="2")
    host = apptainer.ApptainerRuntime().host_paths(spec.workdir)
    cmd = apptainer.exec_command("/usr/bin/apptainer", Path("/sif/agent.sif"), spec, host)
    assert cmd[:2] == ["/usr/bin/apptainer", "exec"]
    for flag in ("--containall", "--cleanenv", "--nv"):
        assert flag in cmd
    assert cmd[cmd.index("--home") + 1] == f"{host['REXMLE_CODE_DIR']}:/home/code"
    assert cmd[cmd.index("--network") + 1] == "none" and "--net" in cmd
    binds = [cmd[i + 1] for i, a in enumerate(cmd) if a == "--bind"]
    assert f"{spec.public_dir.resolve()}:/home/data:ro" in binds
    assert f"{host['REXMLE_INSTRUCTIONS']}:/home/instructions.md:ro" in binds
    assert f"{spec.gateway_socket_dir}:/run/rexmle:ro" in binds
    for k, target in (("REXMLE_SUBMISSION_DIR", "/home/submission"), ("REXMLE_LOGS_DIR", "/home/logs")):
        assert f"{host[k]}:{target}:rw" in binds
    assert not any("private" in b for b in binds)
    assert cmd[cmd.index("--memory") + 1] == str(2**29) and cmd[cmd.index("--pids-limit") + 1] == "128"
    sif = cmd.index("/sif/agent.sif")
    assert cmd[sif + 1 :] == [*apptainer.INIT, *spec.command]
    assert TOKEN not in " ".join(cmd)  # secrets travel in the process environment, not argv
    env = apptainer.process_env(spec)
    assert env["APPTAINERENV_REXMLE_LLM_API_KEY"] == TOKEN
    assert env["APPTAINERENV_REXMLE_CODE_DIR"] == "/home/code"
    assert env["CUDA_VISIBLE_DEVICES"] == "2"
    assert "OPENAI_API_KEY" not in env and not any("sk-provider-secret" in v for v in env.values())


def test_apptainer_without_cgroups_leaves_limits_to_the_scheduler(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REXMLE_APPTAINER_CGROUPS", "0")
    spec = _spec(tmp_path)
    cmd = apptainer.exec_command(
        "apptainer", Path("a.sif"), spec, apptainer.ApptainerRuntime().host_paths(spec.workdir)
    )
    assert "--memory" not in cmd and "--nv" not in cmd


def test_apptainer_missing_binary_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("REXMLE_APPTAINER", raising=False)
    with pytest.raises(ConfigError, match="apptainer is not installed"):
        apptainer.ApptainerRuntime().start(_spec(tmp_path))


def test_apptainer_build_command_converts_the_docker_image(tmp_path: Path) -> None:
    cmd = apptainer.build_command("apptainer", tmp_path / "x.sif", "rexmle/agent-dummy:abc")
    assert cmd[:3] == ["apptainer", "build", "--force"]
    assert cmd[cmd.index("--build-arg") + 1] == "IMAGE=rexmle/agent-dummy:abc"
    assert Path(cmd[-1]).read_text().startswith("# Apptainer image")
    assert "Bootstrap: docker-daemon" in Path(cmd[-1]).read_text()


def test_every_runtime_is_registered() -> None:
    for name in ("local", "docker", "podman", "apptainer"):
        assert get_runtime(name).name == name


def test_agent_tags_change_with_what_the_image_is_made_of(tmp_path: Path) -> None:
    from rexmle import agent as agents

    dummy = agents.get("dummy")
    tag = images.agent_tag(dummy, "rexmle/base-minimal-cpu:1", None)
    assert tag.startswith("rexmle/agent-dummy:") and tag == images.agent_tag(
        dummy, "rexmle/base-minimal-cpu:1", None
    )
    assert tag != images.agent_tag(dummy, "rexmle/base-minimal-cpu:2", None)
    copy = tmp_path / "dummy"
    copy.mkdir()
    for f in dummy.folder.iterdir():
        if f.is_file():
            (copy / f.name).write_bytes(f.read_bytes())
    (copy / "run.py").write_text((copy / "run.py").read_text() + "\n# changed\n")
    changed = agents.Agent(dummy.spec, copy)
    assert images.agent_tag(changed, "rexmle/base-minimal-cpu:1", None) != tag


def test_wheelhouse_refuses_another_python(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(images, "IMAGE_PYTHON", (3, 99))
    with pytest.raises(ConfigError, match=r"Python 3\.99"):
        images.build_wheelhouse(["numpy"], tmp_path / "w", log=None)


def test_no_engine_is_one_clear_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(images.EngineUnavailable, match="no container engine answers"):
        images.client(f"unix://{tmp_path}/none.sock")
