"""One loader for every YAML file the harness reads into a pydantic model.

challenge.yaml, agent.yaml and scripted-LLM scripts all fail the same way: a one-line
``ConfigError`` naming the file and the YAML line, or every bad field at once in plain words
(an unknown key with the known key it most resembles).
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from rexmle.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The field names of the (nested) model that ``loc`` points into; [] where it leaves models."""
    current: Any = model
    for part in loc:
        field = current.model_fields.get(part) if isinstance(part, str) else None
        if field is None:
            return []
        nested = [a for a in (field.annotation, *get_args(field.annotation)) if _is_model(a)]
        if not nested:
            return []
        current = nested[0]
    return list(current.model_fields) if _is_model(current) else []


def _is_model(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, BaseModel)


#: pydantic's name for a member of a union in an error's location (``int``, ``list[int]``,
#: ``constrained-int``, ``function-after[...]``): not a key the user wrote.
_UNION_TAG = re.compile(r"[\[\]\-]|^(int|str|float|bool|list|dict|none)$")


def _where(e: Any) -> tuple[Any, ...]:
    return tuple(p for p in e["loc"] if not (isinstance(p, str) and _UNION_TAG.search(p)))


def _problem(e: Any, model: type[BaseModel] | None) -> str:
    loc = _where(e)
    where = ".".join(str(p) for p in loc) or "<root>"
    if e["type"] == "missing":
        return f"{where}: missing"
    if e["type"] == "extra_forbidden":
        known = _fields_at(model, loc[:-1]) if model is not None else []
        close = difflib.get_close_matches(str(loc[-1]), known, n=1)
        return f"{where}: unknown key" + (f" (did you mean {close[0]}?)" if close else "")
    got = repr(e.get("input"))
    got = got if len(got) <= 40 else got[:39] + "…"
    return f"{where}: {e['msg']} (got {got})"


def format_validation(err: ValidationError, model: type[BaseModel] | None = None) -> str:
    """Every problem of ``err`` on one line: ``a: missing; b: unknown key (did you mean c?); ...``;
    ``model`` (the validated model) lets an unknown key be matched to the one it resembles."""
    problems: list[str] = []
    for e in err.errors():  # the members of a union that all refused a value: one problem
        text = _problem(e, model)
        key = text.split(":", 1)[0]
        if problems and problems[-1].split(":", 1)[0] == key:
            problems[-1] = problems[-1].rsplit(" (got ", 1)[0] + " or" + text.split(":", 1)[1].lower()
        else:
            problems.append(text)
    head = f"{len(problems)} problems: " if len(problems) > 1 else ""
    return head + "; ".join(problems)


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
        raise ConfigError(f"{path}: {format_validation(exc, model)}") from None
