"""AgentSpec and the registry that discovers ``agents/*/agent.yaml``; per-agent venvs.

Each agent runs from its own Python environment (``$REXMLE_HOME/agents/<name>``) so its
dependencies never enter the harness's. The venv is rebuilt when the agent's requirements
change (a hash is kept in ``.rexmle-install.json``) and installs are serialised by a file
lock so parallel runs of a sweep do not race. ``$REXMLE_AGENTS_PATH`` adds user folders.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rexmle import paths
from rexmle.errors import ConfigError, NotFoundError, RexmleError


class InstallSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    requirements: list[str] = []


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str
    kind: Literal["builtin", "scaffold"]
    uses_llm: bool = False
    install: InstallSpec = InstallSpec()
    entrypoint: list[str] = Field(min_length=1)  # "{python}" and "{agent_dir}" are substituted
    defaults: dict[str, Any] = {}


class Agent:
    def __init__(self, spec: AgentSpec, folder: Path) -> None:
        self.spec = spec
        self.folder = folder

    @property
    def name(self) -> str:
        return self.spec.name

    def venv(self, home: Path | None = None) -> Path:
        return paths.agents_dir(home) / self.name

    def python(self, home: Path | None = None) -> Path:
        return self.venv(home) / "bin" / "python"

    def command(self, home: Path | None = None) -> list[str]:
        subs = {"python": str(self.python(home)), "agent_dir": str(self.folder)}
        return [part.format(**subs) for part in self.spec.entrypoint]

    def requirements_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.spec.install.requirements).encode()).hexdigest()[:16]

    def is_installed(self, home: Path | None = None) -> bool:
        marker = self.venv(home) / ".rexmle-install.json"
        if not marker.is_file() or not self.python(home).exists():
            return False
        return bool(json.loads(marker.read_text()).get("requirements_hash") == self.requirements_hash())

    def install(self, home: Path | None = None, log: Path | None = None, force: bool = False) -> Path:
        """Create/refresh the agent's venv; returns its python. Safe under concurrency."""
        venv = self.venv(home)
        venv.parent.mkdir(parents=True, exist_ok=True)
        with (venv.parent / f".{self.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not force and self.is_installed(home):
                return self.python(home)
            shutil.rmtree(venv, ignore_errors=True)
            reqs = self.spec.install.requirements
            steps = [[sys.executable, "-m", "venv", *([] if reqs else ["--without-pip"]), str(venv)]]
            if reqs:
                steps.append(
                    [str(self.python(home)), "-m", "pip", "install", "--disable-pip-version-check", *reqs]
                )
            try:
                with log.open("ab") if log else open(os.devnull, "wb") as out:
                    for cmd in steps:
                        subprocess.run(cmd, check=True, stdout=out, stderr=out)
            except subprocess.CalledProcessError as exc:
                shutil.rmtree(venv, ignore_errors=True)
                where = f"; see {log}" if log else ""
                raise RexmleError(
                    f"installing agent {self.name!r} failed (exit {exc.returncode}){where}"
                ) from None
            (venv / ".rexmle-install.json").write_text(
                json.dumps({"requirements": reqs, "requirements_hash": self.requirements_hash()})
            )
        return self.python(home)


def load_spec(yaml_path: Path) -> AgentSpec:
    try:
        raw = yaml.safe_load(yaml_path.read_text())
        spec = AgentSpec.model_validate(raw)
    except yaml.YAMLError:
        raise ConfigError(f"{yaml_path}: is not valid YAML") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "<root>"
        raise ConfigError(f"{yaml_path}: {loc}: {first['msg']}") from None
    if spec.name != yaml_path.parent.name:
        raise ConfigError(f"{yaml_path}: name {spec.name!r} differs from its folder name")
    return spec


def discover() -> dict[str, Agent]:
    import rexmle.agents as builtin

    roots = [Path(p) for p in builtin.__path__]
    roots += [Path(p).expanduser() for p in os.environ.get("REXMLE_AGENTS_PATH", "").split(os.pathsep) if p]
    found: dict[str, Agent] = {}
    for root in roots:
        for yml in sorted(root.glob("*/agent.yaml")) if root.is_dir() else []:
            spec = load_spec(yml)
            found.setdefault(spec.name, Agent(spec, yml.parent))
    return found


def get(name: str) -> Agent:
    agents = discover()
    if name not in agents:
        raise NotFoundError(
            f"unknown agent {name!r} (known: {', '.join(sorted(agents))}); see `rexmle agents list`"
        )
    return agents[name]
