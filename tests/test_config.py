"""The one YAML loader: parsed once per version of a file, parsed again when the file changes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel, ConfigDict

from rexmle.config import load_yaml_model
from rexmle.errors import ConfigError


class Thing(BaseModel):
    model_config = ConfigDict(frozen=True)
    n: int


def test_a_file_is_parsed_once_until_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "thing.yaml"
    path.write_text("n: 1\n")
    first = load_yaml_model(path, Thing)
    assert load_yaml_model(path, Thing) is first  # the cached instance
    path.write_text("n: 22\n")  # a different size: a new version
    assert load_yaml_model(path, Thing).n == 22
    st = path.stat()
    path.write_text("n: 33\n")  # same size: the mtime tells
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert load_yaml_model(path, Thing).n == 33
    path.write_text("n: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        load_yaml_model(path, Thing)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        load_yaml_model(path, Thing)
