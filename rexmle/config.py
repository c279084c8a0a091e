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


def load_yaml_model(path: Path, model: type[M]) -> M:
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
