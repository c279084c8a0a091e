"""AgentSpec and the registry that discovers ``agents/*/agent.yaml``; per-agent venvs.

Each agent runs from its own Python environment (``$REXMLE_HOME/agents/<name>``) so its
dependencies never enter the harness's. The venv is rebuilt when the agent's requirements
change (a hash is kept in ``.rexmle-install.json``) and installs are serialised by a file
lock so parallel runs of a sweep do not race. ``$REXMLE_AGENTS_PATH`` adds user folders.

The imaging stack (``containers/stacks/imaging.txt``: torch, MONAI, SciPy, ...; the same list
the container images carry) is installed once per home, in ``agents/_stacks/imaging-<hash>``,
and every agent venv whose ``image_stack`` is ``imaging`` sees it through a ``.pth`` file: the
second agent that needs torch installs only its own packages (seconds and megabytes, not a
1.5 GB copy). The agent's venv comes first on ``sys.path``, so a version an agent pins
differently is installed in its venv and wins; the local runtime shows the stack read-only in
the sandbox.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from rexmle import paths
from rexmle.config import load_yaml_model
from rexmle.errors import ConfigError, NotFoundError, RexmleError

StackName = Literal["minimal", "imaging"]  # containers/stacks/<name>.txt
#: The file in an agent venv's site-packages that puts the shared stack on its ``sys.path``.
STACK_PTH = "_rexmle_stack.pth"
#: Where images keep the Python environment and the agents' folders.
IMAGE_VENV = "/opt/rexmle/venv"
IMAGE_AGENTS = "/opt/rexmle/agents"


class SourceSpec(BaseModel):
    """A scaffold that is not on PyPI: a git repository pinned to a commit, or a local checkout."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    repository: str
    commit: str = Field(pattern=r"^[0-9a-f]{40}$")
    env: str  # environment variable naming a local checkout (used instead of cloning)
    marker: str  # a file that must exist in a checkout of the right project


class InstallSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    #: pip requirements, pinned. ``no_deps`` are installed first with ``--no-deps`` (scaffolds whose
    #: metadata pins versions they do not need, e.g. aideml's numpy==1.26.2).
    requirements: list[str] = []
    no_deps: list[str] = []
    source: SourceSpec | None = None


class InstructionPaths(BaseModel):
    """Where a scaffold's generated code finds the data and must leave the submission, when
    that differs from the sandbox paths (AIDE runs code in its own workspace)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    data: str
    submission: str
    note: str = ""


class AgentSpec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_\-]*$")
    description: str
    kind: Literal["builtin", "scaffold"]
    uses_llm: bool = False
    install: InstallSpec = InstallSpec()
    entrypoint: list[str] = Field(min_length=1)  # "{python}" and "{agent_dir}" are substituted
    #: Settings handed to the entrypoint as JSON in REXMLE_AGENT_SETTINGS; ``synthetic_defaults``
    #: override them on synthetic data (tiny budgets), CLI options (``--steps``) override both.
    defaults: dict[str, Any] = {}
    synthetic_defaults: dict[str, Any] = {}
    #: How the scaffold is told about the gateway: env var -> template over {base_url} (with /v1),
    #: {token}, {chat_model}, {embedding_model}, {validate_url}.
    llm_env: dict[str, str] = {}
    #: More names for the chat model, for scaffolds that branch on the model name (ML-Master's
    #: review model must be called gpt-*). They reach the same model as ``rexmle-chat``.
    extra_chat_aliases: list[str] = []
    instructions: InstructionPaths | None = None
    #: The scripted conversation (file in the agent folder) used by ``--llm scripted``.
    scripted: str | None = None
    #: Software stack of its container base image (containers/stacks/): ``imaging`` (torch,
    #: MONAI, ...: what an agent's code imports) or ``minimal`` (stdlib only, e.g. dummy).
    image_stack: StackName = "imaging"
    #: Run containers with a read-only root filesystem (writable: the sandbox folders and /tmp).
    read_only_root: bool = True

    @model_validator(mode="after")
    def _llm_consistent(self) -> AgentSpec:
        if self.uses_llm and not self.llm_env:
            raise ValueError("an agent that uses an LLM must say how it finds the gateway (llm_env)")
        return self


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

    def image_command(self) -> list[str]:
        """The entrypoint inside the agent's container image (containers/agent/Dockerfile)."""
        subs = {"python": f"{IMAGE_VENV}/bin/python", "agent_dir": f"{IMAGE_AGENTS}/{self.name}"}
        return [part.format(**subs) for part in self.spec.entrypoint]

    def requirements_hash(self) -> str:
        stack = stack_hash(self.spec.image_stack) if self.uses_stack() else ""
        return hashlib.sha256((self.spec.install.model_dump_json() + stack).encode()).hexdigest()[:16]

    def uses_stack(self) -> bool:
        """Whether the venv is layered on the shared imaging stack (an imaging agent with pip
        requirements; the stdlib-only ones need no stack)."""
        install = self.spec.install
        return self.spec.image_stack == "imaging" and bool(install.requirements or install.no_deps)

    def source_dir(self, home: Path | None = None) -> Path:
        """Where a source-installed scaffold's tree lives (inside its venv)."""
        return self.venv(home) / "src" / self.name

    def settings(self, synthetic: bool, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        merged = dict(self.spec.defaults)
        if synthetic:
            merged.update(self.spec.synthetic_defaults)
        merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
        return merged

    def is_installed(self, home: Path | None = None) -> bool:
        marker = self.venv(home) / ".rexmle-install.json"
        if not marker.is_file() or not self.python(home).exists():
            return False
        if self.uses_stack() and not _stack_installed(stack_venv(self.spec.image_stack, home)):
            return False
        return bool(json.loads(marker.read_text()).get("requirements_hash") == self.requirements_hash())

    def resolve_source(self, given: Path | None) -> Path | None:
        src = self.spec.install.source
        if src is None:
            return None
        path = given or (Path(os.environ[src.env]) if os.environ.get(src.env) else None)
        if path is None:
            return None
        path = path.expanduser().resolve()
        if not (path / src.marker).is_file():
            raise RexmleError(f"{path} is not a checkout of {src.repository} (no {src.marker})")
        return path

    def install(
        self,
        home: Path | None = None,
        log: Path | None = None,
        force: bool = False,
        source: Path | None = None,
    ) -> Path:
        """Create/refresh the agent's venv; returns its python. Safe under concurrency.

        A source-installed scaffold (ML-Master) is copied from ``source`` (or the checkout named
        by its ``install.source.env`` variable), else cloned from its repository at the pinned
        commit; the commit actually installed is recorded in the venv's marker file.
        """
        venv = self.venv(home)
        venv.parent.mkdir(parents=True, exist_ok=True)
        with (venv.parent / f".{self.name}.lock").open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not force and source is None and self.is_installed(home):
                return self.python(home)
            shutil.rmtree(venv, ignore_errors=True)
            spec = self.spec.install
            stack_site = install_stack(self.spec.image_stack, home, log) if self.uses_stack() else None
            needs_pip = bool(spec.requirements or spec.no_deps)
            pip = [str(self.python(home)), "-m", "pip", "install", "--disable-pip-version-check"]
            steps = [[sys.executable, "-m", "venv", *([] if needs_pip else ["--without-pip"]), str(venv)]]
            if spec.no_deps:
                steps.append([*pip, "--no-deps", *spec.no_deps])
            if spec.requirements:
                steps.append([*pip, *spec.requirements])
            checkout = self.resolve_source(source)
            placed: list[str | None] = [None]

            def layer(_out: IO[bytes]) -> None:  # once the venv exists: put the stack on its path
                (_site_packages(venv) / STACK_PTH).write_text(f"{stack_site}\n")

            def place(out: IO[bytes]) -> None:  # a source-installed scaffold, after its requirements
                placed[0] = self._place_source(home, checkout, out)

            after: list[tuple[int, Callable[[IO[bytes]], None]]] = []
            after += [(0, layer)] if stack_site is not None else []
            after += [(len(steps) - 1, place)] if spec.source is not None else []
            _install_steps(venv, steps, log, f"agent {self.name!r}", after)
            commit = placed[0]
            _write_validate_command(venv / "bin")
            (venv / ".rexmle-install.json").write_text(
                json.dumps(
                    {
                        "install": spec.model_dump(mode="json"),
                        "requirements_hash": self.requirements_hash(),
                        "source_commit": commit,
                    }
                )
            )
        return self.python(home)

    def _place_source(self, home: Path | None, checkout: Path | None, out: Any) -> str | None:
        """Copy a local checkout (or clone the pinned commit) into the venv; returns the commit."""
        src = self.spec.install.source
        assert src is not None
        dest = self.source_dir(home)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if checkout is None:
            try:
                subprocess.run(
                    ["git", "clone", "--quiet", src.repository, str(dest)], check=True, stdout=out, stderr=out
                )
                subprocess.run(
                    ["git", "-C", str(dest), "checkout", "--quiet", src.commit],
                    check=True,
                    stdout=out,
                    stderr=out,
                )
            except (subprocess.CalledProcessError, FileNotFoundError):
                raise RexmleError(
                    f"could not clone {src.repository} at {src.commit[:12]}; give a local checkout with "
                    f"`rexmle agents install {self.name} --source PATH` or ${src.env}"
                ) from None
        else:
            shutil.copytree(
                checkout, dest, ignore=shutil.ignore_patterns(".git", "__pycache__", "logs", "workspaces")
            )
        return _git_commit(checkout or dest)


def _install_steps(
    venv: Path,
    steps: list[list[str]],
    log: Path | None,
    what: str,
    after: list[tuple[int, Callable[[IO[bytes]], None]]] | None = None,
) -> None:
    """Run the commands that make ``venv`` (``after``: (i, f) calls f once step i is done), in a
    throwaway folder with pip's own environment: a requirement's build backend may run here, so
    it gets no provider key and no REXMLE_HOME (as the image wheelhouse does). On failure the
    half-made venv is removed and one line names ``what`` and the log."""
    from rexmle.runtime.images import pip_env

    try:
        with (
            log.open("ab") if log else open(os.devnull, "wb") as out,
            tempfile.TemporaryDirectory(prefix="rexmle-install-") as scratch,
        ):
            env = pip_env(Path(scratch))
            for i, cmd in enumerate(steps):
                subprocess.run(cmd, check=True, stdout=out, stderr=out, env=env, cwd=scratch)
                for _, then in [a for a in after or [] if a[0] == i]:
                    then(out)
    except subprocess.CalledProcessError as exc:
        shutil.rmtree(venv, ignore_errors=True)
        where = f"; see {log}" if log else ""
        raise RexmleError(f"installing {what} failed (exit {exc.returncode}){where}") from None
    except BaseException:
        shutil.rmtree(venv, ignore_errors=True)
        raise


def _site_packages(venv: Path) -> Path:
    """A venv's site-packages (the venvs are made by the harness's own Python)."""
    return venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def stack_hash(stack: StackName) -> str:
    from rexmle.runtime.images import stack_file

    return hashlib.sha256(stack_file(stack).read_bytes()).hexdigest()[:12]


def stack_venv(stack: StackName, home: Path | None = None) -> Path:
    return paths.agents_dir(home) / "_stacks" / f"{stack}-{stack_hash(stack)}"


def _stack_installed(venv: Path) -> bool:
    return (venv / ".rexmle-stack.json").is_file()


def stack_installed(stack: StackName, home: Path | None = None) -> bool:
    return _stack_installed(stack_venv(stack, home))


def install_stack(stack: StackName, home: Path | None = None, log: Path | None = None) -> Path:
    """Install the shared ``stack`` once per home (under a lock: parallel installs wait for one
    another) and return its site-packages, which agent venvs put on their path."""
    from rexmle.runtime.images import stack_file

    venv = stack_venv(stack, home)
    venv.parent.mkdir(parents=True, exist_ok=True)
    with (venv.parent / f".{venv.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _stack_installed(venv):
            return _site_packages(venv)
        shutil.rmtree(venv, ignore_errors=True)
        python = venv / "bin" / "python"
        steps = [
            [sys.executable, "-m", "venv", str(venv)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-r",
                str(stack_file(stack)),
            ],
        ]
        _install_steps(venv, steps, log, f"the shared {stack} stack")
        (venv / ".rexmle-stack.json").write_text(json.dumps({"stack": stack, "hash": stack_hash(stack)}))
    return _site_packages(venv)


def stack_paths(venv: Path) -> list[Path]:
    """The shared stack folders a venv's ``.pth`` names (the local sandbox must show them)."""
    pth = _site_packages(venv) / STACK_PTH
    if not pth.is_file():
        return []
    return [Path(ln.strip()) for ln in pth.read_text().splitlines() if ln.strip().startswith("/")]


def _git_commit(path: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


#: ``validate-submission``, the stdlib program every agent gets on its PATH (venv and image alike).
VALIDATE_SCRIPT = Path(__file__).parent / "runtime" / "validate_submission.py"


def _write_validate_command(bindir: Path) -> None:
    """Every agent venv gets ``validate-submission`` on its PATH (stdlib only)."""
    bindir.mkdir(parents=True, exist_ok=True)
    target = bindir / "validate-submission"
    target.write_bytes(VALIDATE_SCRIPT.read_bytes())
    target.chmod(0o755)


def load_spec(yaml_path: Path) -> AgentSpec:
    spec = load_yaml_model(yaml_path, AgentSpec)
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
