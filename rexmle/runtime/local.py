"""The local runtime: the agent as a subprocess in its own session / process group.

For development and CI. Results say ``"isolation": "none"``: the process runs with the
harness's user and could read anything that user can. What the harness *hands* it is
clean: a sandbox folder per run whose ``data/`` holds hard links (or copies) of the
public files only, made read-only, environment variables naming only that sandbox, and an
environment rebuilt from an allow-list (no provider keys, no ``REXMLE_HOME``).

Enforced here: wall-clock (SIGTERM to the whole group at the deadline, SIGKILL after a
grace period; process.py), CPU count (affinity + thread env vars), core dumps off, GPU visibility.
Not enforced here: memory and disk (the docker runtime enforces those).
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rexmle.runtime import process
from rexmle.runtime.base import SandboxSpec, copy_submission, host_layout, register
from rexmle.runtime.process import ProcessHandle

if TYPE_CHECKING:
    from rexmle.agent import Agent
    from rexmle.runtime.images import ImageRef

PASS_THROUGH = ("LANG", "LC_ALL", "TZ", "TERM", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS")


def _link_tree(src: Path, dst: Path) -> None:
    """Hard-link (copy across devices) every file of src into dst; dst ends read-only."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s, d = Path(dirpath) / name, dst / rel / name
            if s.is_symlink():
                continue
            try:
                os.link(s, d)
            except OSError:
                shutil.copy2(s, d)
            os.chmod(d, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    for dirpath, _d, _f in os.walk(dst, topdown=False):
        os.chmod(dirpath, 0o555)


def _make_writable(path: Path) -> None:
    for dirpath, _d, _f in os.walk(path):
        with contextlib.suppress(OSError):
            os.chmod(dirpath, 0o755)


class LocalRuntime(process.ProcessGroupRuntime):
    name = "local"
    isolation = "none"
    gateway_via_socket = False

    def host_paths(self, workdir: Path) -> dict[str, Path]:
        return self.agent_paths(workdir)

    def prepare_image(self, agent: Agent, gpus: int, home: Path, log: Path) -> ImageRef | None:
        return None

    def agent_paths(self, workdir: Path) -> dict[str, Path]:
        return host_layout(workdir)

    def start(self, spec: SandboxSpec) -> ProcessHandle:
        root = spec.workdir
        if root.exists():
            _make_writable(root)
            shutil.rmtree(root)
        dirs = self.agent_paths(root)
        for key in ("REXMLE_SUBMISSION_DIR", "REXMLE_CODE_DIR", "REXMLE_LOGS_DIR"):
            dirs[key].mkdir(parents=True)
        _link_tree(spec.public_dir, dirs["REXMLE_DATA_DIR"])
        dirs["REXMLE_INSTRUCTIONS"].write_text(spec.instructions)
        cpus = spec.budgets.cpus
        env = {k: os.environ[k] for k in PASS_THROUGH if k in os.environ}
        env.update(
            PATH=f"{Path(spec.command[0]).parent}:/usr/local/bin:/usr/bin:/bin",
            HOME=str(dirs["REXMLE_CODE_DIR"]),
            TMPDIR=str(dirs["REXMLE_CODE_DIR"]),
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS=str(cpus),
            MKL_NUM_THREADS=str(cpus),
            OPENBLAS_NUM_THREADS=str(cpus),
            CUDA_VISIBLE_DEVICES=spec.env.get(
                "CUDA_VISIBLE_DEVICES", ",".join(str(i) for i in range(spec.budgets.gpus))
            ),
        )
        env.update({k: v for k, v in spec.env.items() if k != "CUDA_VISIBLE_DEVICES"})
        env.update({k: str(v) for k, v in dirs.items()})
        available = sorted(os.sched_getaffinity(0))
        affinity = set(available[: max(1, min(cpus, len(available)))])

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
            process.die_with_parent()
            os.sched_setaffinity(0, affinity)

        return process.spawn(
            spec.command,
            env=env,
            cwd=dirs["REXMLE_CODE_DIR"],
            log_path=spec.log_path,
            root=root,
            preexec=preexec,
        )

    def collect(self, handle: ProcessHandle, dest: Path) -> None:
        copy_submission(handle.root, dest)
        data = handle.root / "data"
        if data.exists():
            _make_writable(data)
            shutil.rmtree(data, ignore_errors=True)

    def info(self, handle: ProcessHandle) -> dict[str, Any]:
        return {"runtime": self.name, "isolation": self.isolation, "pid": handle.proc.pid}


@register("local")
def _factory() -> LocalRuntime:
    return LocalRuntime()
