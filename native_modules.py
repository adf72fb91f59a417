"""The modules mypyc compiles (``make native``): the one reader of their list.

The list is ``[tool.sla-worker] native`` in ``pyproject.toml``. ``setup.py`` (what to
compile), the Makefile (did each one build?) and ``tests/unit/test_native.py`` (all compiled
or none) read it through this file, never on their own. Why a file of its own at the root,
standard library only, and loaded by path: ``setup.py`` runs before the package is installed
(and a PEP 517 build does not put the root on ``sys.path``), the Makefile needs the list as
shell words (a ``sed`` over TOML breaks at the first reformatting), and the package itself
has no business knowing how it is built.

``python native_modules.py`` prints the source paths, one a line; ``--names`` the dotted
module names.

Speed-only code shapes
----------------------
The compiled modules keep a few shapes only because they are faster, most of them only once
compiled. Each has a "Why" comment where it is; this is the list of them. A plainer shape
may replace one when ``make bench`` (compiled) shows no loss:

- ``worker/core/ticket_state.py`` ``TicketState``: a slotted dataclass with a hand-written
  ``__init__``, not a frozen dataclass (compiled, the frozen ``__init__`` costs 25 times).
- ``worker/core/status.py`` ``TargetStatus`` and ``TicketStatus``: slotted dataclasses, not
  frozen ones (compiled, the frozen ``__init__`` made the status stream cost 8% more CPU per
  event, ``bench/bench_agent.py``).
- ``worker/core/cycle_plans.py`` ``positional``: outputs built by setting their slots through
  the slot descriptors, in a plain ``for`` loop over ``zip`` without ``strict=True``
  (compiled, ``any(map(...))`` and ``zip(strict=True)`` are generic calls at twice the cost).
- ``worker/core/cycle_plans.py`` ``build_running``: ``RunningTarget`` built by ``tuple.__new__``,
  not its NamedTuple constructor (a Python function, interpreted even when compiled).
- ``worker/core/schedule.py`` ``_us`` and ``_instant``: instants converted with integer
  arithmetic on days, seconds and microseconds and a timedelta product, not a timedelta
  division or a keyword call (40% and 2.5 times cheaper).
- ``worker/simulate.py`` ``Simulation``: outputs counted by a method (``_count``), not a
  generator per event; ``_fire_due`` pops with ``pop_us`` the head it already converted;
  ``_replay`` binds the methods and containers it calls per event to locals.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

__all__ = ["native_names", "native_paths"]

ROOT = Path(__file__).resolve().parent


def native_paths() -> list[str]:
    """Return the source paths of the compiled modules, relative to the repository root."""
    with open(ROOT / "pyproject.toml", "rb") as file:
        paths: list[str] = tomllib.load(file)["tool"]["sla-worker"]["native"]
    return paths


def native_names() -> list[str]:
    """Return the dotted names of the compiled modules (``worker.core.tracker``)."""
    return [path.removesuffix(".py").replace("/", ".") for path in native_paths()]


if __name__ == "__main__":
    print("\n".join(native_names() if sys.argv[1:] == ["--names"] else native_paths()))
