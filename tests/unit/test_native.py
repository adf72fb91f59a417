"""The compiled core (``make native``): all of it or none of it, as the test run expects."""

from __future__ import annotations

import importlib
import os
import runpy
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The one reader of the list of compiled modules (it is no module of the package).
native_names: Callable[[], list[str]] = runpy.run_path(str(ROOT / "native_modules.py"))[
    "native_names"
]


def _compiled(name: str) -> bool:
    origin = importlib.import_module(name).__file__
    assert origin is not None
    return not origin.endswith(".py")


def test_the_compiled_modules_are_all_or_none_as_expected() -> None:
    """``SLA_EXPECT_NATIVE=1`` (set by ``make test-native``) means every listed module is the
    compiled one, ``0`` (set by ``make test``: coverage traces only Python code) that none is;
    unset, a partial build (some modules compiled, others not) is still an error."""
    compiled = {name: _compiled(name) for name in native_names()}
    assert compiled, "pyproject.toml lists no native modules"
    expected = os.environ.get("SLA_EXPECT_NATIVE")
    if expected is None:
        assert len(set(compiled.values())) == 1, compiled
    else:
        assert set(compiled.values()) == {expected == "1"}, compiled
