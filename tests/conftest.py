"""Shared fixtures. Every test writes only inside its own tmp_path (parallel-safe)."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest


def _writer(folder: Path, default_name: str) -> Callable[..., Path]:
    """A function writing dedented text to a file in ``folder`` and returning its path."""

    def _write(text: str, name: str = default_name) -> Path:
        p = folder / name
        p.write_text(textwrap.dedent(text))
        return p

    return _write


@pytest.fixture
def write_model(tmp_path: Path):
    """Write Antimony text to a file in tmp_path and return its path."""
    return _writer(tmp_path, "m.ant")


@pytest.fixture
def write_yaml(tmp_path: Path):
    """Write YAML text to a file in tmp_path and return its path."""
    return _writer(tmp_path, "scenario.yaml")
