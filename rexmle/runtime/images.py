"""Sandbox images: a base per software stack and accelerator, and one layer per agent.

Built with the Docker SDK from ``containers/`` (Dockerfiles, stacks) and ``agents/<name>/``.
The build never needs network access: Python packages are resolved on the host into a
wheelhouse (``pip wheel``, with the host's own pip configuration, caches and indexes, but
wheels only, a few reviewed source builds excepted, and an environment scrubbed of keys and
``REXMLE_*``: see ``build_wheelhouse``) and copied into the build context; the Dockerfile's
``RUN`` steps install with ``--no-index`` and are built with ``network_mode="none"``. What the build does need is a *root* image with
CPython 3.11 (``python3 -m venv``):

- with a registry: ``python:3.11-slim-bookworm`` (the default; pulled once), or
- without one: ``rexmle images rootfs`` bootstraps Debian bookworm with ``debootstrap``
  (or imports a root filesystem tarball you bring) as ``rexmle/root:bookworm``; then
  ``--root rexmle/root:bookworm`` or ``REXMLE_IMAGE_ROOT``.

Tags are content hashes of the build's *inputs* (Dockerfile, stack, sandbox scripts, root
image id; for an agent layer its base tag, folder, install spec and source commit), so an
image is rebuilt exactly when something it is made of changed, and a run can find its image
without building anything. The image *id* (``sha256:...``) recorded in each run's
``run.json`` pins what actually ran.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from rexmle import paths
from rexmle.errors import ConfigError, RexmleError

if TYPE_CHECKING:
    import docker

    from rexmle.agent import Agent

Accelerator = Literal["cpu", "cuda"]
Stack = Literal["minimal", "imaging"]

DEFAULT_ROOT = "python:3.11-slim-bookworm"
OFFLINE_ROOT = "rexmle/root:bookworm"
IMAGE_PYTHON = (3, 11)
#: Packages the root filesystem needs for the base Dockerfile (debootstrap --include).
ROOTFS_PACKAGES = ("python3", "python3-venv")


class EngineUnavailable(RexmleError):
    pass


class ImageRef(BaseModel):
    """A built image: the tag runs ask for and the id that pins what ran."""

    model_config = ConfigDict(frozen=True)

    tag: str
    image_id: str
    stack: Stack
    accelerator: Accelerator
    agent: str | None = None


def scaffold_io() -> Path:
    """The launchers' shared stdlib helper (agents/scaffold_io.py), placed beside every agent."""
    import rexmle.agents as pkg

    return Path(next(iter(pkg.__path__))) / "scaffold_io.py"


def containers_dir() -> Path:
    import rexmle.containers as pkg

    return Path(next(iter(pkg.__path__)))


def default_root() -> str:
    return os.environ.get("REXMLE_IMAGE_ROOT") or DEFAULT_ROOT


def client(base_url: str | None = None) -> docker.DockerClient:
    """A Docker SDK client for ``base_url`` (``unix:///...``; Podman's socket works too), or
    the environment's engine (``DOCKER_HOST``, else /var/run/docker.sock)."""
    try:
        import docker
        from docker.errors import DockerException
    except ImportError:  # pragma: no cover - docker is a harness dependency
        raise EngineUnavailable("the Docker SDK is not installed (pip install docker)") from None
    where = base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    try:
        c = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
        c.ping()
    except DockerException as exc:
        reason = " ".join(str(exc).split())[:160]
        raise EngineUnavailable(
            f"no container engine answers at {where} ({reason}); start dockerd (or `podman system "
            "service`) and/or set DOCKER_HOST; `rexmle doctor` shows what this machine has"
        ) from None
    return c


def engine_name(c: docker.DockerClient) -> str:
    """'Docker 20.10.24' or 'Podman Engine 4.3.1' (from the engine's own version report)."""
    info = c.version()
    for comp in info.get("Components") or []:
        if "podman" in str(comp.get("Name", "")).lower():
            return f"Podman {comp.get('Version', info.get('Version'))}"
    return f"Docker {info.get('Version', '?')}"


def _hash(parts: Iterable[bytes | str]) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()[:16]


def _tree_bytes(root: Path) -> list[bytes]:
    """Path + content of every file under root (sorted; caches excluded) for hashing."""
    out: list[bytes] = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
            out += [str(path.relative_to(root)).encode(), path.read_bytes()]
    return out


def _sandbox_scripts() -> dict[str, bytes]:
    """The two stdlib programs every image carries in /opt/rexmle/bin."""
    here = Path(__file__).parent
    return {
        "sandbox-init": (here / "sandbox_init.py").read_bytes(),
        "validate-submission": (here / "validate_submission.py").read_bytes(),
    }


def stack_file(stack: Stack) -> Path:
    return containers_dir() / "stacks" / f"{stack}.txt"


def _requirements(text: str) -> list[str]:
    return [ln.split("#", 1)[0].strip() for ln in text.splitlines() if ln.split("#", 1)[0].strip()]


def base_tag(c: docker.DockerClient, root: str, stack: Stack, accelerator: Accelerator) -> str:
    root_id = root_image(c, root).id
    dockerfile = (containers_dir() / "base" / "Dockerfile").read_bytes()
    scripts = _sandbox_scripts()
    digest = _hash(
        [dockerfile, stack_file(stack).read_bytes(), accelerator, str(root_id), *scripts, *scripts.values()]
    )
    return f"rexmle/base-{stack}-{accelerator}:{digest}"


def agent_tag(agent: Agent, base: str, source_commit: str | None) -> str:
    dockerfile = (containers_dir() / "agent" / "Dockerfile").read_bytes()
    shared = scaffold_io().read_bytes()
    digest = _hash(
        [
            base,
            dockerfile,
            shared,
            agent.spec.install.model_dump_json(),
            source_commit or "",
            *_tree_bytes(agent.folder),
        ]
    )
    return f"rexmle/agent-{agent.name}:{digest}"


def accelerator_for(gpus: int) -> Accelerator:
    return "cuda" if gpus > 0 else "cpu"


def stack_for(agent: Agent) -> Stack:
    return agent.spec.image_stack


def root_image(c: docker.DockerClient, root: str) -> Any:
    """The root image, pulled if it is not local; a clear line if neither works."""
    from docker.errors import APIError, ImageNotFound

    try:
        return c.images.get(root)
    except ImageNotFound:
        pass
    try:
        return c.images.pull(root)
    except APIError as exc:
        raise ConfigError(
            f"root image {root!r} is neither local nor pullable ({' '.join(str(exc).split())[:120]}); "
            f"without a registry run `rexmle images rootfs` and use --root {OFFLINE_ROOT} "
            "(or REXMLE_IMAGE_ROOT)"
        ) from None


def find_image(c: docker.DockerClient, tag: str) -> Any | None:
    from docker.errors import ImageNotFound

    try:
        return c.images.get(tag)
    except ImageNotFound:
        return None


# -- wheelhouses -------------------------------------------------------------------------------


def _wheel_name(filename: str) -> tuple[str, str]:
    name, version = filename.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def _check_host_python() -> None:
    if sys.version_info[:2] != IMAGE_PYTHON:
        want = ".".join(map(str, IMAGE_PYTHON))
        raise ConfigError(
            f"the image's Python is {want} and wheels are resolved by the harness's interpreter "
            f"({sys.version_info.major}.{sys.version_info.minor}): run `rexmle images build` from a "
            f"Python {want} environment"
        )


#: What the host-side ``pip wheel`` sees of the harness's environment: where programs are, the
#: locale, and pip's own configuration (indexes, links, certificates, proxies, timeouts, cache).
#: Provider keys, ``REXMLE_*`` (the data and its private labels) and everything else stay out.
PIP_ENV_ALLOW = frozenset(
    {
        "PATH",
        "LANG",
        "LC_ALL",
        "LC_CTYPE",
        "TMPDIR",
        "XDG_CONFIG_DIRS",  # where pip's global (site-wide) configuration lives
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
        "PIP_NO_INDEX",
        "PIP_TRUSTED_HOST",
        "PIP_CERT",
        "PIP_CLIENT_CERT",
        "PIP_CONFIG_FILE",
        "PIP_CONSTRAINT",
        "PIP_PRE",
        "PIP_PREFER_BINARY",
        "PIP_CACHE_DIR",
        "PIP_NO_CACHE_DIR",
        "PIP_DEFAULT_TIMEOUT",
        "PIP_TIMEOUT",
        "PIP_RETRIES",
        "PIP_PROXY",
        "PIP_DISABLE_PIP_VERSION_CHECK",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "all_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "ALL_PROXY",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)

#: Dependencies of the shipped agents that PyPI has only as source distributions, so their build
#: code must run to make a wheel; pinned, so that a new release (new code) is reviewed before it
#: runs. Everything else must come as a wheel. ml-master: omegaconf 2.3.0 needs
#: antlr4-python3-runtime 4.9.*; rdagent 1.0.0 needs pandarallel and randomname. (They build in
#: ``pip_env``'s scrubbed environment; building them in a network-less container instead would
#: keep even their code off the host.)
HOST_SOURCE_BUILDS: dict[str, str] = {
    "antlr4-python3-runtime": "4.9.3",
    "pandarallel": "1.6.5",
    "randomname": "0.2.1",
}

#: A requirement by name (``numpy>=1.26``, ``rich[jupyter]==13.7.0; python_version<'3.12'``),
#: as opposed to a direct reference (``name @ URL``), a path, a VCS URL or a pip option.
_NAMED_REQUIREMENT = re.compile(
    r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?\s*(?:\[[^\]]*\])?\s*(?:[<>=!~;(].*)?$"
)


def _is_wheel_reference(location: str) -> bool:
    return location.split(";", 1)[0].split("#", 1)[0].split("?", 1)[0].strip().lower().endswith(".whl")


def host_requirement(req: str) -> str:
    """``req`` as the host's ``pip wheel`` may take it: a requirement by name (only wheels will
    do, see ``build_wheelhouse``) or a wheel (a path, made absolute, or ``name @ URL``). A local
    folder, a VCS URL, a source archive or a pip option would run a package's build code (or
    change pip's rules) on the host, so it is refused."""
    text = req.strip()
    if _NAMED_REQUIREMENT.match(text):
        return text
    if not text.startswith("-"):
        name, at, url = text.partition("@")
        if at and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(?:\[[^\]]*\])?", name.strip()):
            if _is_wheel_reference(url):
                return text
        elif _is_wheel_reference(text):
            if "://" in text:
                return text
            location, sep, marker = text.partition(";")  # pip runs in a throwaway folder
            return str(Path(location.strip()).expanduser().absolute()) + (f" ;{marker}" if sep else "")
    raise ConfigError(
        f"requirement {req!r} is neither a package name nor a wheel (a local folder, VCS URL, source "
        "archive or pip option would run build code on the host): give a wheel (a path or URL ending "
        "in .whl) or build it inside the image"
    )


#: Allowed variables that hold paths (space-separated lists for pip's list options).
_PATH_VARS = frozenset(
    {
        "PIP_FIND_LINKS",
        "PIP_CONSTRAINT",
        "PIP_CONFIG_FILE",
        "PIP_CERT",
        "PIP_CLIENT_CERT",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REQUESTS_CA_BUNDLE",
    }
)


def _absolute(item: str) -> str:
    return item if "://" in item or os.path.isabs(item) else str(Path(item).expanduser().absolute())


def _user_pip_configs(env: Mapping[str, str]) -> list[tuple[Path, str]]:
    """The user's pip configuration files and where they go under a throwaway home."""
    home = Path(env.get("HOME") or Path.home())
    xdg = Path(env["XDG_CONFIG_HOME"]) if env.get("XDG_CONFIG_HOME") else home / ".config"
    candidates = [
        (home / ".pip" / "pip.conf", ".pip/pip.conf"),
        (xdg / "pip" / "pip.conf", ".config/pip/pip.conf"),
    ]
    return [(src, rel) for src, rel in candidates if src.is_file()]


def pip_env(home: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the host-side ``pip wheel``: ``PIP_ENV_ALLOW`` from ``environ`` (default
    ``os.environ``), ``HOME`` set to ``home`` (a throwaway folder that receives copies of the
    user's pip configuration files), the user's pip cache (``XDG_CACHE_HOME``) and ``.netrc``
    (index credentials), and nothing else: no provider keys, no ``REXMLE_HOME``."""
    source = os.environ if environ is None else environ
    env = {k: v for k, v in source.items() if k in PIP_ENV_ALLOW}
    for key in _PATH_VARS & env.keys():  # pip runs in a throwaway folder: relative paths move
        env[key] = " ".join(_absolute(item) for item in env[key].split())
    env.setdefault("PATH", os.defpath)
    real_home = Path(source.get("HOME") or Path.home())
    for src, rel in _user_pip_configs(source):
        dst = home / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    env["HOME"] = str(home)
    env["XDG_CACHE_HOME"] = source.get("XDG_CACHE_HOME") or str(real_home / ".cache")
    netrc = Path(source.get("NETRC") or real_home / ".netrc")
    if netrc.is_file():
        env["NETRC"] = str(netrc)
    spec = importlib.util.find_spec("pip")
    user_site = site.getusersitepackages()
    if spec is not None and spec.origin and spec.origin.startswith(user_site):
        env["PYTHONUSERBASE"] = site.getuserbase()  # pip itself lives in the user's site-packages
    return env


def _flags(flag: str, names: Iterable[str]) -> list[str]:
    return [arg for name in names for arg in (flag, name)]


def build_wheelhouse(
    requirements: list[str],
    dest: Path,
    log: Any,
    no_deps: Sequence[str] = (),
    constraints: Sequence[str] = (),
) -> list[str]:
    """``pip wheel`` the requirements into a fresh ``dest`` with the host's pip; returns the files.
    (pip's own cache makes a rebuild cheap; a fresh folder keeps stale versions out.)

    No package's own code runs here, on the host, where the harness keeps provider keys and the
    private labels: ``--only-binary :all:`` takes wheels only (``HOST_SOURCE_BUILDS`` excepted),
    and pip runs in a throwaway folder with an environment scrubbed to ``PIP_ENV_ALLOW``
    (``pip_env``). A requirement that has no wheel fails with one line that names it."""
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    if not requirements and not no_deps:
        return []
    _check_host_python()
    requirements = [host_requirement(r) for r in requirements]
    no_deps = [host_requirement(r) for r in no_deps]
    with tempfile.TemporaryDirectory(prefix="rexmle-wheels-") as tmp:
        work = Path(tmp)
        (work / "home").mkdir()
        env = pip_env(work / "home")
        built = work / "wheels"
        pip = [sys.executable, "-m", "pip", "wheel", "--disable-pip-version-check", "--wheel-dir", str(built)]
        pip += ["--only-binary", ":all:", *_flags("--no-binary", HOST_SOURCE_BUILDS)]
        reviewed = work / "source-builds.txt"
        reviewed.write_text("".join(f"{n}=={v}\n" for n, v in HOST_SOURCE_BUILDS.items()))
        pip += ["--constraint", str(reviewed)]
        extra: list[str] = []
        if constraints:
            cfile = work / "constraints.txt"
            cfile.write_text("\n".join(constraints) + "\n")
            extra = ["--constraint", str(cfile)]
        steps = []
        if no_deps:
            steps.append([*pip, "--no-deps", *no_deps])
        if requirements:
            steps.append([*pip, *extra, *requirements])
        for cmd in steps:
            _run_pip(cmd, work, env, log)
        for wheel in built.glob("*.whl"):
            shutil.move(str(wheel), dest / wheel.name)
    return sorted(p.name for p in dest.glob("*.whl"))


def _run_pip(cmd: list[str], cwd: Path, env: dict[str, str], log: Any) -> None:
    """Run one ``pip wheel``, its output into ``log``; a one-line error if it fails."""
    log.write(f"$ {' '.join(cmd)}\n".encode())
    log.flush()
    missing: str | None = None
    conflict: str | None = None
    with subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            log.write(line)
            found = re.search(rb"No matching distribution found for (.+)", line)
            if found and missing is None:
                missing = found.group(1).decode(errors="replace").strip()
            found = re.search(rb"Cannot install (.+?) because these package versions have conflicting", line)
            if found and conflict is None:
                conflict = found.group(1).decode(errors="replace").strip()
    log.flush()
    if proc.returncode == 0:
        return
    if missing is not None:
        raise ConfigError(
            f"no wheel of {missing} for Python {'.'.join(map(str, IMAGE_PYTHON))} (the indexes pip sees "
            "have none, or only a source distribution, whose build code the harness does not run on the "
            f"host): provide a wheel (e.g. in a PIP_FIND_LINKS folder) or build it inside the image; see {log.name}"
        )
    if conflict is not None:
        raise ConfigError(
            f"no versions of {conflict} satisfy every requirement and constraint (the base image's pins "
            f"and HOST_SOURCE_BUILDS among them); see {log.name}"
        )
    raise RexmleError(f"resolving wheels failed (pip exit {proc.returncode}); see {log.name}")


# -- builds ------------------------------------------------------------------------------------


def _docker_build(
    c: docker.DockerClient, context: Path, tag: str, buildargs: dict[str, str], log: Any
) -> Any:
    """Legacy-builder build (works without BuildKit and against Podman's compat API), no network."""
    log.write(f"$ build {tag} from {context} {buildargs}\n".encode())
    log.flush()
    error: str | None = None
    for chunk in c.api.build(
        path=str(context),
        tag=tag,
        buildargs=buildargs,
        rm=True,
        forcerm=True,
        network_mode="none",
        pull=False,
        decode=True,
        labels={"org.rexmle.tag": tag},
    ):
        if "stream" in chunk:
            log.write(str(chunk["stream"]).encode())
        if "error" in chunk:
            error = " ".join(str(chunk["error"]).split())
            log.write(f"ERROR {error}\n".encode())
    log.flush()
    image = find_image(c, tag)
    if error or image is None:
        raise RexmleError(f"building {tag} failed: {(error or 'no image produced')[:200]}; see {log.name}")
    return image


def images_dir(home: Path | None = None) -> Path:
    """Where root tarballs and the build log live; created here, since a fresh REXMLE_HOME
    (CI's, or a new user's) has none and every caller writes into it."""
    d = (home or paths.home()) / "images"
    d.mkdir(parents=True, exist_ok=True)
    return d


def ensure_base(
    c: docker.DockerClient,
    *,
    root: str,
    stack: Stack,
    accelerator: Accelerator,
    log: Any,
    home: Path | None = None,
    rebuild: bool = False,
) -> ImageRef:
    tag = base_tag(c, root, stack, accelerator)
    image = None if rebuild else find_image(c, tag)
    if image is None:
        with tempfile.TemporaryDirectory(dir=_tmp_parent(home)) as tmp:
            ctx = Path(tmp)
            shutil.copy2(containers_dir() / "base" / "Dockerfile", ctx / "Dockerfile")
            reqs = _requirements(stack_file(stack).read_text())
            (ctx / "requirements.txt").write_text("\n".join(reqs) + "\n")
            wheels = build_wheelhouse(reqs, _wheel_cache(home, tag), log)
            (ctx / "wheels").mkdir()
            for w in wheels:
                _link_or_copy(_wheel_cache(home, tag) / w, ctx / "wheels" / w)
            if accelerator == "cuda" and any("+cpu" in w for w in wheels if w.startswith("torch-")):
                raise ConfigError(
                    "the CUDA image resolved a CPU build of torch (your pip configuration prefers a CPU "
                    "wheel): build it where the default index serves the CUDA wheels"
                )
            (ctx / "bin").mkdir()
            for name, content in _sandbox_scripts().items():
                (ctx / "bin" / name).write_bytes(content)
            image = _docker_build(c, ctx, tag, {"ROOT": root, "ACCELERATOR": accelerator}, log)
    return ImageRef(tag=tag, image_id=image.id, stack=stack, accelerator=accelerator)


def _tmp_parent(home: Path | None) -> Path:
    parent = images_dir(home) / "tmp"
    parent.mkdir(parents=True, exist_ok=True)
    return parent


def _wheel_cache(home: Path | None, tag: str) -> Path:
    return images_dir(home) / "wheels" / tag.split(":")[0].replace("/", "_")


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def installed(c: docker.DockerClient, image: str) -> dict[str, str]:
    """name -> version of what an image's venv holds (its /opt/rexmle/stack.txt, pip freeze)."""
    out = c.containers.run(
        image,
        ["/opt/rexmle/stack.txt"],
        entrypoint=["cat"],
        network_mode="none",
        remove=True,
        stdout=True,
        stderr=False,
    )
    pins: dict[str, str] = {}
    for line in out.decode().splitlines():
        name, sep, version = line.partition("==")
        if sep:
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version.strip()
    return pins


def ensure_agent(
    c: docker.DockerClient,
    agent: Agent,
    *,
    root: str,
    accelerator: Accelerator,
    log: Any,
    home: Path | None = None,
    source: Path | None = None,
    rebuild: bool = False,
) -> ImageRef:
    """The agent's image over its base; built when missing (or ``rebuild``)."""
    stack = stack_for(agent)
    base = ensure_base(c, root=root, stack=stack, accelerator=accelerator, log=log, home=home)
    checkout = agent.resolve_source(source)
    commit = agent.spec.install.source.commit if agent.spec.install.source else None
    tag = agent_tag(agent, base.tag, commit)
    image = None if rebuild else find_image(c, tag)
    if image is None:
        if agent.spec.install.source is not None and checkout is None:
            src = agent.spec.install.source
            raise ConfigError(
                f"agent {agent.name!r} is installed from source: give a checkout of {src.repository} at "
                f"{src.commit[:12]} with --source PATH or ${src.env}"
            )
        with tempfile.TemporaryDirectory(dir=_tmp_parent(home)) as tmp:
            ctx = Path(tmp)
            shutil.copy2(containers_dir() / "agent" / "Dockerfile", ctx / "Dockerfile")
            install = ctx / "install"
            (install / "wheels").mkdir(parents=True)
            spec = agent.spec.install
            have = installed(c, base.tag)  # what the base holds: pinned, and not shipped again
            pins = [f"{n}=={v}" for n, v in have.items()]
            cache = images_dir(home) / "wheels" / f"agent-{agent.name}"
            shutil.rmtree(cache, ignore_errors=True)
            wheels = build_wheelhouse(list(spec.requirements), cache, log, list(spec.no_deps), pins)
            for w in wheels:
                if _wheel_name(w)[0] not in have:  # the base has it already
                    _link_or_copy(cache / w, install / "wheels" / w)
            script = ["set -e", "PIP='/opt/rexmle/venv/bin/pip install --no-cache-dir --no-index'"]
            script.append("W=/tmp/install/wheels")
            if spec.no_deps:
                script.append(f"$PIP --no-deps --find-links $W {' '.join(_q(r) for r in spec.no_deps)}")
            if spec.requirements:
                script.append(f"$PIP --find-links $W {' '.join(_q(r) for r in spec.requirements)}")
            (install / "install.sh").write_text("\n".join(script) + "\n")
            agents_ctx = ctx / "agents"
            agents_ctx.mkdir()
            shutil.copy2(scaffold_io(), agents_ctx / "scaffold_io.py")
            shutil.copytree(
                agent.folder, agents_ctx / agent.name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
            )
            (ctx / "src").mkdir()
            if checkout is not None:
                shutil.copytree(
                    checkout,
                    ctx / "src" / agent.name,
                    ignore=shutil.ignore_patterns(".git", "__pycache__", "logs", "workspaces"),
                )
            image = _docker_build(c, ctx, tag, {"BASE": base.tag}, log)
    return ImageRef(tag=tag, image_id=image.id, stack=stack, accelerator=accelerator, agent=agent.name)


def _q(req: str) -> str:
    return "'" + req.replace("'", "'\\''") + "'"


# -- root filesystems -------------------------------------------------------------------------


def import_rootfs(c: docker.DockerClient, tarball: Path, tag: str = OFFLINE_ROOT) -> str:
    """``docker import`` a root filesystem tarball (debootstrap, busybox, ``docker export``)."""
    if not tarball.is_file():
        raise ConfigError(f"{tarball}: no such file")
    repo, _, version = tag.partition(":")
    with tarball.open("rb") as f:
        answer = c.api.import_image_from_data(f, repository=repo, tag=version or "latest")
    image = find_image(c, tag)
    if image is None:  # Podman's compat import names it <repo>:latest whatever tag was asked
        ids = re.findall(r"(?:sha256:)?[0-9a-f]{64}", str(answer))
        if ids:
            c.images.get(ids[-1]).tag(repo, version or "latest")
            image = find_image(c, tag)
    if image is None:
        raise RexmleError(f"importing {tarball} as {tag} produced no image")
    return str(image.id)


def bootstrap_rootfs(dest: Path, log: Any, mirror: str | None = None, suite: str = "bookworm") -> Path:
    """Debian ``suite`` (minbase + Python) with debootstrap, packed as ``dest`` (a tarball).

    debootstrap fetches from a Debian mirror (a package registry, not an image registry); it
    needs root. The tarball is kept so the root can be imported again without fetching.
    """
    tool = shutil.which("debootstrap", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
    if tool is None:
        raise ConfigError("debootstrap is not installed (Debian/Ubuntu: apt-get install debootstrap)")
    if os.geteuid() != 0:
        raise ConfigError(
            "debootstrap needs root; or bring a root filesystem tarball: rexmle images rootfs --tar FILE"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        target = Path(tmp) / "root"
        cmd = [tool, "--variant=minbase", f"--include={','.join(ROOTFS_PACKAGES)}", suite, str(target)]
        if mirror:
            cmd.append(mirror)
        log.write(f"$ {' '.join(cmd)}\n".encode())
        log.flush()
        done = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT)
        if done.returncode != 0:
            raise RexmleError(f"debootstrap failed (exit {done.returncode}); see {log.name}")
        partial = dest.with_suffix(".partial")
        packed = subprocess.run(["tar", "-C", str(target), "-cf", str(partial), "."], stdout=log, stderr=log)
        if packed.returncode != 0:
            raise RexmleError(f"packing the root filesystem failed; see {log.name}")
        partial.replace(dest)
    return dest
