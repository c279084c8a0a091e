"""One loader for every YAML file the harness reads into a pydantic model.

challenge.yaml, agent.yaml and scripted-LLM scripts all fail the same way: a one-line
``ConfigError`` naming the file, the YAML line or the first bad field (with how many more).
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from rexmle.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def format_validation(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "<root>"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"{loc}: {first['msg']}{more}"


#: Parsed files by (path, model), each with the (inode, size, mtime) it was parsed at: expanding a
#: sweep asks for the same challenge and agent specs thousands of times, and a file edited since
#: is parsed again. The models are frozen, so sharing one instance is safe.
_PARSED: dict[tuple[Path, type[BaseModel]], tuple[tuple[int, int, int], BaseModel]] = {}


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Parse ``path`` into ``model`` (once per version of the file), or one line saying why not."""
    try:
        st = path.stat()
    except OSError:
        st = None
    key = (path.resolve(), model)
    stamp = (st.st_ino, st.st_size, st.st_mtime_ns) if st is not None else None
    hit = _PARSED.get(key)
    if stamp is not None and hit is not None and hit[0] == stamp:
        return hit[1]  # type: ignore[return-value]
    parsed = _parse_yaml_model(path, model)
    if stamp is not None:
        _PARSED[key] = (stamp, parsed)
    return parsed


def _parse_yaml_model(path: Path, model: type[M]) -> M:
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} is not valid YAML") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {format_validation(exc)}") from None
