"""Build hook of sla-worker: compiles the hot core with mypyc when asked (``make native``).

Everything else about the package is in ``pyproject.toml``. With ``SLA_WORKER_NATIVE=1`` the
modules listed under ``[tool.sla-worker] native`` there (read by ``native_modules.py``, the
one reader of that list) are compiled to C extensions by mypyc (part of mypy): the same
source, type-checked, without the interpreter's per-bytecode overhead (``simulate`` runs
2.2-2.4x faster). Without it, the package is pure Python and behaves the same:
``make test`` runs every test on the pure build, ``make test-native`` the unit tests and the
replay test on the compiled one. The compiled modules sit beside their sources
(``--inplace``) or in the wheel; Python imports an extension module in preference to its
source.
"""

from __future__ import annotations

import os
import runpy
from pathlib import Path

from setuptools import setup

ROOT = Path(__file__).resolve().parent

ext_modules = []
if os.environ.get("SLA_WORKER_NATIVE") == "1":
    from mypyc.build import mypycify

    # Loaded by path: a PEP 517 build does not put the root on sys.path.
    native_paths = runpy.run_path(str(ROOT / "native_modules.py"))["native_paths"]
    # One group named inside the package: its shared library is worker/_native__mypyc*.so,
    # not a top-level module that an editable install could not find.
    ext_modules = mypycify(native_paths(), opt_level="3", group_name="worker._native")

setup(ext_modules=ext_modules)
