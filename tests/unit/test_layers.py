"""The package's layers import only what their rule allows (read with ``ast``, nothing imported).

- ``worker/core/``: the standard library and ``worker.core`` only, and not the parts of the
  standard library that reach outside the process or the arguments (I/O, the environment,
  the clock, concurrency, randomness: see ``CORE_FORBIDDEN_STDLIB``).
- ``worker/edge/``: no network library and nothing from ``worker.stream`` or the top-level
  modules (``cli``, ``__main__``, ``simulate``, ``loadgen``).
- ``worker/stream/``: the only importers of faust, aiokafka, aiohttp and mode.
- Nothing in ``core``, ``edge`` or ``stream`` imports a top-level module: the doors and the
  offline drivers import the layers, never the reverse.

Every import counts: at module level, inside functions, under ``if TYPE_CHECKING:``.
Relative imports are resolved against the importing module's package. A failure names the
file, the line and the import.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "worker"

# Standard library modules the core may not import although they are standard: the core is
# pure (time is an argument, nothing is read from outside, nothing runs concurrently). zoneinfo
# is allowed: reading the time-zone database is a lookup of fixed data, like a constant table.
CORE_FORBIDDEN_STDLIB = frozenset(
    {
        # concurrency and processes
        "asyncio",
        "concurrent",
        "multiprocessing",
        "signal",
        "subprocess",
        "threading",
        # the environment, files and the interpreter
        "builtins",
        "importlib",
        "io",
        "os",
        "pathlib",
        "shutil",
        "sys",
        "tempfile",
        # logging is the shell's business: the core returns values
        "logging",
        # the clock and randomness: both are arguments
        "random",
        "secrets",
        "time",
        # the network
        "http",
        "selectors",
        "socket",
        "ssl",
        "urllib",
    }
)
# Libraries that talk to the network (or are an event loop): never in the edge layer.
NETWORK = frozenset(
    {
        "aiohttp",
        "aiokafka",
        "asyncio",
        "confluent_kafka",
        "faust",
        "http",
        "httpx",
        "kafka",
        "mode",
        "requests",
        "selectors",
        "socket",
        "ssl",
        "urllib",
        "urllib3",
        "websockets",
    }
)
# The streaming stack: only worker/stream imports it.
STREAM_ONLY = frozenset({"aiohttp", "aiokafka", "faust", "mode"})
# Top-level modules of the package (the doors and the offline drivers), from the tree.
TOP_LEVEL = frozenset(
    f"worker.{path.stem}" for path in PACKAGE.glob("*.py") if path.stem != "__init__"
)


@dataclass(frozen=True, slots=True)
class Import:
    """One imported module: absolute dotted name, and where the import statement is."""

    name: str
    line: int

    def within(self, *packages: str) -> bool:
        """Return whether the module is one of ``packages`` or inside one of them."""
        return any(self.name == p or self.name.startswith(p + ".") for p in packages)

    @property
    def top(self) -> str:
        return self.name.partition(".")[0]


def module_name(path: Path) -> str:
    """Return the dotted name of the package module at ``path`` (``worker/core/x.py``)."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(source: str, module: str, *, is_package: bool = False) -> Iterator[Import]:
    """Yield every module ``source`` (the text of ``module``) imports, anywhere in it.

    ``from X import y`` yields ``X.y`` when ``y`` is a module of this package (a file or a
    folder under ``worker/``), else ``X``.
    """
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join([*base, *([node.module] if node.module else [])])
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield Import(sub if _is_package_module(sub) else target, node.lineno)


def _is_package_module(name: str) -> bool:
    if name.partition(".")[0] != "worker":
        return False
    path = ROOT.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def is_stdlib(item: Import) -> bool:
    return item.top in sys.stdlib_module_names


# --- the rules: each returns why an import is not allowed, or None -----------------------


def core_rule(item: Import) -> str | None:
    if item.within("worker.core"):
        return None
    if item.top == "worker":
        return "core modules import only worker.core from the package"
    if not is_stdlib(item):
        return "core modules import only the standard library (this is a third-party library)"
    if item.top in CORE_FORBIDDEN_STDLIB:
        return "core modules are pure: no I/O, environment, clock, concurrency or randomness"
    return None


def edge_rule(item: Import) -> str | None:
    if item.top in NETWORK:
        return "edge modules import no network library"
    if item.within("worker.stream"):
        return "edge modules never import the streaming layer (worker.stream)"
    if item.within(*TOP_LEVEL):
        return "edge modules never import the top-level doors or drivers"
    return None


def stream_rule(item: Import) -> str | None:
    if item.within(*TOP_LEVEL):
        return "stream modules never import the top-level doors or drivers"
    return None


def outside_stream_rule(item: Import) -> str | None:
    if item.top in STREAM_ONLY:
        return "only worker/stream imports faust, aiokafka, aiohttp or mode"
    return None


Rule = Callable[[Import], str | None]

LAYER_RULES: dict[str, tuple[Rule, ...]] = {
    "core": (core_rule, outside_stream_rule),
    "edge": (edge_rule, outside_stream_rule),
    "stream": (stream_rule,),
    "top": (outside_stream_rule,),
}


def layer_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE).parts
    return relative[0] if len(relative) > 1 else "top"


def violations(
    source: str, module: str, layer: str, *, is_package: bool = False, where: str = ""
) -> list[str]:
    """Return one line per import of ``source`` that breaks a rule of ``layer``."""
    found = []
    for item in imports_of(source, module, is_package=is_package):
        for rule in LAYER_RULES[layer]:
            why = rule(item)
            if why is not None:
                found.append(f"{where or module}:{item.line}: imports {item.name}: {why}")
    return found


PACKAGE_FILES = sorted(PACKAGE.rglob("*.py"))


def test_the_tree_has_the_three_layers() -> None:
    """The layers exist as folders and every module of the package belongs to one of them
    or to the top level."""
    assert {"core", "edge", "stream"} <= {p.name for p in PACKAGE.iterdir() if p.is_dir()}
    assert {layer_of(path) for path in PACKAGE_FILES} <= set(LAYER_RULES), PACKAGE_FILES


@pytest.mark.parametrize(
    "path", PACKAGE_FILES, ids=[str(p.relative_to(ROOT)) for p in PACKAGE_FILES]
)
def test_each_module_imports_only_what_its_layer_allows(path: Path) -> None:
    """No module of the package imports across its layer's rule (see the module docstring)."""
    found = violations(
        path.read_text(encoding="utf-8"),
        module_name(path),
        layer_of(path),
        is_package=path.name == "__init__.py",
        where=str(path.relative_to(ROOT)),
    )
    assert not found, "layering broken:\n" + "\n".join(found)


# --- the checker itself -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "source", "line", "name"),
    [
        ("core", "import asyncio\n", 1, "asyncio"),
        ("core", "import re\nimport os.path\n", 2, "os.path"),
        ("core", "from logging import getLogger\n", 1, "logging"),
        ("core", "import faust\n", 1, "faust"),
        ("core", "import yaml\n", 1, "yaml"),
        ("core", "from worker.edge import codec\n", 1, "worker.edge.codec"),
        ("core", "from ..edge.codec import decode_event\n", 1, "worker.edge.codec"),
        ("core", "def f():\n    import time\n", 2, "time"),
        (
            "core",
            "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    import aiokafka\n",
            4,
            "aiokafka",
        ),
        ("edge", "import aiokafka\n", 1, "aiokafka"),
        ("edge", "from aiohttp import web\n", 1, "aiohttp"),
        ("edge", "import socket\n", 1, "socket"),
        ("edge", "from worker.stream.app import SlaWorker\n", 1, "worker.stream.app"),
        ("edge", "from worker import simulate\n", 1, "worker.simulate"),
        ("edge", "from worker.cli import main\n", 1, "worker.cli"),
        ("edge", "def f():\n    from ..stream import producer\n", 2, "worker.stream.producer"),
        ("stream", "from worker.cli import main\n", 1, "worker.cli"),
        ("stream", "from worker.__main__ import main\n", 1, "worker.__main__"),
        ("stream", "from ..simulate import Simulation\n", 1, "worker.simulate"),
        ("top", "import faust\n", 1, "faust"),
        ("top", "from mode import Service\n", 1, "mode"),
    ],
)
def test_the_checker_reports_a_forbidden_import(
    layer: str, source: str, line: int, name: str
) -> None:
    """A forbidden import, wherever it sits, is reported with the module, line and name."""
    module = "worker.example" if layer == "top" else f"worker.{layer}.example"
    found = violations(source, module, layer)
    assert any(f.startswith(f"{module}:{line}: imports {name}: ") for f in found), found


@pytest.mark.parametrize(
    ("layer", "source"),
    [
        ("core", "import re\nfrom datetime import UTC\nfrom zoneinfo import ZoneInfo\n"),
        ("core", "from worker.core.events import TicketCreated\n"),
        ("core", "from . import events\nfrom .calendars import Calendar\n"),
        ("edge", "import msgspec\nimport yaml\nfrom prometheus_client import Counter\n"),
        ("edge", "import os\nfrom worker.core import tracker\nfrom worker.edge import codec\n"),
        ("edge", "from worker import __version__\n"),
        ("stream", "import faust\nimport aiokafka\nfrom aiohttp import web\nimport mode\n"),
        ("stream", "from worker.edge.codec import decode_event\n"),
        ("top", "from worker.stream.app import SlaWorker\nimport asyncio\n"),
    ],
)
def test_the_checker_accepts_an_allowed_import(layer: str, source: str) -> None:
    """What a layer may import is not reported."""
    module = "worker.example" if layer == "top" else f"worker.{layer}.example"
    assert violations(source, module, layer) == []


def test_relative_imports_resolve_against_the_package() -> None:
    """``from .x``/``from ..x`` name the module they reach, from a module or a package."""
    source = "from . import events\nfrom .. import simulate\nfrom ..edge.codec import Rejected\n"
    names = [item.name for item in imports_of(source, "worker.core.tracker")]
    assert names == ["worker.core.events", "worker.simulate", "worker.edge.codec"]
    names = [item.name for item in imports_of(source, "worker.core", is_package=True)]
    assert names == ["worker.core.events", "worker.simulate", "worker.edge.codec"]
