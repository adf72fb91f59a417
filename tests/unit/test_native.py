"""The compiled core (``make native``): all of it or none of it, as the test run expects."""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _native_modules() -> list[str]:
    with open(ROOT / "pyproject.toml", "rb") as file:
        paths: list[str] = tomllib.load(file)["tool"]["sla-worker"]["native"]
    return [path.removesuffix(".py").replace("/", ".") for path in paths]


def _compiled(name: str) -> bool:
    origin = importlib.import_module(name).__file__
    assert origin is not None
    return not origin.endswith(".py")


def test_the_compiled_modules_are_all_or_none_as_expected() -> None:
    """``SLA_EXPECT_NATIVE=1`` (set by ``make test`` for its second pass) means every listed
    module is the compiled one, ``0`` that none is (coverage traces only Python code); unset,
    a partial build (some modules compiled, others not) is still an error."""
    compiled = {name: _compiled(name) for name in _native_modules()}
    assert compiled, "pyproject.toml lists no native modules"
    expected = os.environ.get("SLA_EXPECT_NATIVE")
    if expected is None:
        assert len(set(compiled.values())) == 1, compiled
    else:
        assert set(compiled.values()) == {expected == "1"}, compiled
