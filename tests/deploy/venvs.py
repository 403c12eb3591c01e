"""Helpers for tests that build throwaway virtualenvs."""

from __future__ import annotations

import os
from pathlib import Path


def base_python(venv: Path) -> str:
    """What the venv's bin/python finally links to outside the venv."""
    path = venv / "bin" / "python"
    while path.is_symlink():
        target = Path(os.path.normpath(path.parent / os.readlink(path)))
        if venv not in target.parents:
            return str(target)
        path = target
    raise AssertionError("bin/python is not a link out of the venv")
