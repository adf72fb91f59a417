"""Helpers of the container tests (tests/container/): the engine, commands, the stack.

Imported by the fixtures of ``conftest.py`` and by the tests; no fixtures here.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

__all__ = ["IMAGES_SH", "ROOT", "VERSION", "detect_engine", "run"]

ROOT = Path(__file__).resolve().parents[2]
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
IMAGES_SH = ROOT / "deploy" / "container" / "images.sh"


def detect_engine() -> str | None:
    """Return docker if its daemon answers, else podman if installed, else None."""
    if shutil.which("docker"):
        info = subprocess.run(["docker", "info"], capture_output=True, check=False)
        if info.returncode == 0:
            return "docker"
    return "podman" if shutil.which("podman") else None


def run(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    timeout_s: float = 120,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command from the repository root; on failure, fail with its output."""
    result = subprocess.run(
        list(command),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if check and result.returncode != 0:
        pytest.fail(
            f"{' '.join(command)} exited {result.returncode}\n"
            f"--- stdout\n{result.stdout[-6000:]}\n--- stderr\n{result.stderr[-6000:]}"
        )
    return result
