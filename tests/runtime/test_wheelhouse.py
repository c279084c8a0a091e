"""The host-side ``pip wheel`` of an image build runs no package's code with the harness's secrets.

Offline and Docker-free: a local find-links folder holds a tiny pure wheel and ``leaky``, an sdist
whose in-tree build backend (no build dependencies, so pip can build it offline) writes what it
sees, its environment, its working directory and a "private labels" file found through
``$REXMLE_HOME``, into a marker file.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from rexmle.errors import ConfigError
from rexmle.runtime import images

KEY = "sk-fake-provider-key-0123456789"
PRIVATE = "case_0001,label=secret"

BACKEND = """
import json, os, zipfile

with open({marker!r}, "w") as f:
    home = os.environ.get("REXMLE_HOME")
    private = os.path.join(home, "private.csv") if home else None
    json.dump({{
        "env": dict(os.environ),
        "cwd": os.getcwd(),
        "private": open(private).read() if private and os.path.exists(private) else None,
    }}, f)

DIST = "leaky-1.0"


def get_requires_for_build_wheel(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = DIST + "-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as z:
        z.writestr("leaky.py", "")
        z.writestr(DIST + ".dist-info/METADATA", "Metadata-Version: 2.1\\nName: leaky\\nVersion: 1.0\\n")
        z.writestr(DIST + ".dist-info/WHEEL", "Wheel-Version: 1.0\\nGenerator: test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n")
        z.writestr(DIST + ".dist-info/RECORD", "")
    return name
"""


def write_wheel(folder: Path, name: str, version: str) -> Path:
    """A minimal pure wheel (what `pip wheel` of a one-module project would make)."""
    dist = f"{name}-{version}"
    path = folder / f"{dist}-py3-none-any.whl"
    files = {
        f"{name}.py": "VALUE = 1\n",
        f"{dist}.dist-info/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
        f"{dist}.dist-info/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{n},,\n" for n in files) + f"{dist}.dist-info/RECORD,,\n"
    with zipfile.ZipFile(path, "w") as z:
        for n, text in files.items():
            z.writestr(n, text)
        z.writestr(f"{dist}.dist-info/RECORD", record)
    return path


def write_leaky_sdist(folder: Path, marker: Path) -> Path:
    members = {
        "PKG-INFO": "Metadata-Version: 2.1\nName: leaky\nVersion: 1.0\n",
        "pyproject.toml": '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
        "backend.py": BACKEND.format(marker=str(marker)),
    }
    path = folder / "leaky-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for n, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"leaky-1.0/{n}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


@pytest.fixture
def links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Offline pip (no index, no configuration files) over a find-links folder; a provider key,
    a private file under $REXMLE_HOME and a "real" home that the build must not see."""
    folder = tmp_path / "links"
    folder.mkdir()
    write_wheel(folder, "tinywheel", "1.0")
    write_leaky_sdist(folder, tmp_path / "marker.json")
    rexmle_home = tmp_path / "rexmle-home"
    rexmle_home.mkdir()
    (rexmle_home / "private.csv").write_text(PRIVATE)
    real_home = tmp_path / "real-home"
    real_home.mkdir()
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_NO_CACHE_DIR", "1")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("REXMLE_HOME", str(rexmle_home))
    monkeypatch.setenv("HOME", str(real_home))
    monkeypatch.chdir(rexmle_home)  # the harness may well be started from its data folder
    return folder


def test_the_trap_is_armed(links: Path, tmp_path: Path) -> None:
    """Plain `pip wheel` of the sdist runs its build code with the caller's environment (what
    build_wheelhouse did before): the marker then holds the key and the private file."""
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--wheel-dir", str(tmp_path / "plain"), "leaky"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    seen = json.loads((tmp_path / "marker.json").read_text())
    assert seen["env"]["OPENAI_API_KEY"] == KEY and seen["private"] == PRIVATE


def test_sdist_is_refused_in_one_line_and_its_code_never_runs(links: Path, tmp_path: Path) -> None:
    with (tmp_path / "build.log").open("ab") as log, pytest.raises(ConfigError) as refused:
        images.build_wheelhouse(["tinywheel==1.0", "leaky"], tmp_path / "wheels", log)
    message = str(refused.value)
    assert "\n" not in message
    assert "no wheel of leaky" in message and "provide a wheel" in message and "inside the image" in message
    assert not (tmp_path / "marker.json").exists()


def test_a_wheel_only_requirement_resolves(links: Path, tmp_path: Path) -> None:
    with (tmp_path / "build.log").open("ab") as log:
        wheels = images.build_wheelhouse(["tinywheel==1.0"], tmp_path / "wheels", log)
    assert wheels == ["tinywheel-1.0-py3-none-any.whl"]
    assert (tmp_path / "wheels" / wheels[0]).is_file()
    assert "--only-binary :all:" in (tmp_path / "build.log").read_text()


def test_pip_runs_with_a_scrubbed_environment_in_a_throwaway_folder(
    links: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The real pip process, observed: a wrapper interpreter records its environment and working
    directory, then execs Python."""
    seen = tmp_path / "seen"
    seen.mkdir()
    wrapper = tmp_path / "python-wrapper"
    wrapper.write_text(f'#!/bin/sh\nenv > "{seen}/env"\npwd > "{seen}/cwd"\nexec "{sys.executable}" "$@"\n')
    wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setattr(sys, "executable", str(wrapper))
    with (tmp_path / "build.log").open("ab") as log:
        assert images.build_wheelhouse(["tinywheel"], tmp_path / "wheels", log) == [
            "tinywheel-1.0-py3-none-any.whl"
        ]
    env = dict(line.split("=", 1) for line in (seen / "env").read_text().splitlines() if "=" in line)
    assert KEY not in (seen / "env").read_text()
    assert "OPENAI_API_KEY" not in env and "REXMLE_HOME" not in env
    assert env["PIP_FIND_LINKS"] == str(links) and env["PIP_NO_INDEX"] == "1"
    cwd = Path((seen / "cwd").read_text().strip())
    for place in (Path(env["HOME"]), cwd):
        assert not place.is_relative_to(tmp_path)  # neither the real home nor the data folder
    assert cwd != Path.cwd() and not cwd.exists()  # a throwaway folder, gone afterwards


def test_a_reviewed_source_build_runs_without_the_secrets(
    links: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HOST_SOURCE_BUILDS (pinned sdist-only dependencies of the shipped agents) do run build
    code on the host: in the scrubbed environment, away from the data."""
    monkeypatch.setattr(images, "HOST_SOURCE_BUILDS", {"leaky": "1.0"})
    with (tmp_path / "build.log").open("ab") as log:
        wheels = images.build_wheelhouse(["tinywheel", "leaky"], tmp_path / "wheels", log)
    assert wheels == ["leaky-1.0-py3-none-any.whl", "tinywheel-1.0-py3-none-any.whl"]
    seen = json.loads((tmp_path / "marker.json").read_text())
    assert KEY not in json.dumps(seen) and seen["private"] is None
    assert "OPENAI_API_KEY" not in seen["env"] and "REXMLE_HOME" not in seen["env"]
    assert not Path(seen["env"]["HOME"]).is_relative_to(tmp_path)
    assert not Path(seen["cwd"]).is_relative_to(tmp_path)


def test_a_source_build_beyond_its_pin_is_refused(
    links: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(images, "HOST_SOURCE_BUILDS", {"leaky": "2.0"})
    with (
        (tmp_path / "build.log").open("ab") as log,
        pytest.raises(ConfigError, match="no versions of leaky satisfy"),
    ):
        images.build_wheelhouse(["leaky"], tmp_path / "wheels", log)
    assert not (tmp_path / "marker.json").exists()


def test_local_folders_vcs_and_sdist_urls_are_refused_before_pip(links: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text(f"open({str(tmp_path / 'marker.json')!r}, 'w').write('ran')\n")
    for req in (
        str(project),
        "./project",
        f"project @ file://{project}",
        "git+https://github.com/example/project@v1",
        "project @ https://example.org/project-1.0.tar.gz",
        "--no-binary=:all:",
        "-r requirements.txt",
    ):
        with (
            (tmp_path / "build.log").open("ab") as log,
            pytest.raises(ConfigError, match="neither a package"),
        ):
            images.build_wheelhouse([req], tmp_path / "wheels", log)
        with pytest.raises(ConfigError, match="neither a package"):
            images.build_wheelhouse(["tinywheel"], tmp_path / "wheels", log, no_deps=[req])
    assert not (tmp_path / "marker.json").exists()


def test_host_requirement_accepts_names_and_wheels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for req in (
        "numpy",
        "torch==2.13.0",
        "monai>=1.3,<2",
        "rich[jupyter]==13.7.0",
        "dataclasses_json",
        "antlr4-python3-runtime==4.9.*",
        'tomli; python_version < "3.11"',
        "foo (>=1.0)",
        "foo @ https://example.org/foo-1.0-py3-none-any.whl",
        "https://example.org/foo-1.0-py3-none-any.whl",
    ):
        assert images.host_requirement(req) == req
    assert images.host_requirement("w/foo-1.0-py3-none-any.whl") == str(
        tmp_path / "w/foo-1.0-py3-none-any.whl"
    )


def test_pip_env_keeps_pip_settings_only(tmp_path: Path) -> None:
    real = tmp_path / "real"
    (real / ".config" / "pip").mkdir(parents=True)
    (real / ".config" / "pip" / "pip.conf").write_text(
        "[global]\nextra-index-url = https://idx.example/simple\n"
    )
    (real / ".netrc").write_text("machine idx.example login u password p\n")
    throwaway = tmp_path / "home"
    throwaway.mkdir()
    env = images.pip_env(
        throwaway,
        {
            "PATH": "/usr/bin:/bin",
            "HOME": str(real),
            "LANG": "C.UTF-8",
            "PIP_INDEX_URL": "https://idx.example/simple",
            "PIP_FIND_LINKS": "wheels https://links.example/",
            "https_proxy": "http://proxy:3128",
            "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
            "OPENAI_API_KEY": KEY,
            "ANTHROPIC_API_KEY": KEY,
            "REXMLE_HOME": "/data/rexmle",
            "PYTHONPATH": "/somewhere",
            "VIRTUAL_ENV": "/venv",
        },
    )
    assert env.pop("PIP_FIND_LINKS") == f"{Path('wheels').absolute()} https://links.example/"
    assert env == {
        "PATH": "/usr/bin:/bin",
        "HOME": str(throwaway),
        "LANG": "C.UTF-8",
        "PIP_INDEX_URL": "https://idx.example/simple",
        "https_proxy": "http://proxy:3128",
        "SSL_CERT_FILE": "/etc/ssl/certs/ca.pem",
        "XDG_CACHE_HOME": str(real / ".cache"),  # pip's cache stays where it was
        "NETRC": str(real / ".netrc"),  # index credentials, as pip found them before
    }
    copied = throwaway / ".config" / "pip" / "pip.conf"
    assert copied.read_text() == (real / ".config" / "pip" / "pip.conf").read_text()


def test_the_allow_list_lets_no_secret_through() -> None:
    for name in images.PIP_ENV_ALLOW:
        assert not name.startswith("REXMLE_") and not any(
            word in name for word in ("KEY", "TOKEN", "SECRET", "PASSWORD")
        ), name
