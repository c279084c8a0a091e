"""The package list in pyproject.toml names every importable folder the wheel ships, so that
`pip install` builds without a page of setuptools warnings per folder (issue 19: a quiet install)."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_every_importable_folder_is_a_listed_package() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    mapping = {folder: name for name, folder in config["package-dir"].items()}
    missing = []
    for folder, name in mapping.items():
        for d in sorted((REPO / folder).rglob("*")):
            rel = d.relative_to(REPO / folder).parts
            if not d.is_dir() or "__pycache__" in rel or not all(p.isidentifier() for p in rel):
                continue
            if any(f.is_file() for f in d.iterdir()) and ".".join((name, *rel)) not in listed:
                missing.append(".".join((name, *rel)))
    assert missing == []
