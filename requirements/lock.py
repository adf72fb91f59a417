"""Write or check the hashed dependency locks of requirements/ from pyproject.toml.

    python requirements/lock.py            write the locks (`make lock`)
    python requirements/lock.py --upgrade  write them with the newest versions allowed
    python requirements/lock.py --check    fail if pyproject.toml and the locks disagree (CI)

Three locks, each pinning every transitive dependency with the hashes of all its files
(``pip install --require-hashes``), resolved for every platform (``uv pip compile
--universal``) from Python 3.11 on:

- ``dev.lock``: the project's dependencies and its ``dev`` extra: ``make install``;
- ``runtime.lock``: the dependencies alone, at the versions of ``dev.lock`` (what the tests
  ran is what the image ships): the Dockerfile;
- ``build.lock``: the build backend (``[build-system] requires``) and mypy (whose mypyc
  compiles the modules of ``native_modules.py``), also at ``dev.lock``'s versions: the
  Dockerfile builds the package's compiled wheel with it, without build isolation.

Writing keeps every pin already in a lock unless pyproject.toml rules it out (or
``--upgrade``), so a new pin in pyproject.toml changes only what it must. Checking first
compares pyproject.toml's own pins with the locks (offline, with a message naming each
difference), then writes the locks again into a temporary directory, from copies of the
current ones, and fails on any difference: a lock that pyproject.toml would no longer
produce. The check needs the package index, as writing does.

uv is the one pinned in pyproject.toml's dev extra (another version may write another
file): the script runs ``python -m uv`` with the interpreter that runs it.
"""

from __future__ import annotations

import argparse
import difflib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

__all__ = ["LOCKS", "main", "pinned", "write_locks"]

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
HERE = ROOT / "requirements"
LOCKS = ("dev.lock", "runtime.lock", "build.lock")
# The oldest Python the project supports (requires-python): universal resolution adds
# markers for newer ones where their dependencies differ.
PYTHON_VERSION = "3.11"
_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.MULTILINE)
_EXACT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;]+)\s*$")


def _normal(name: str) -> str:
    """Return a project name as the locks spell it (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(lock: Path) -> dict[str, str]:
    """Return ``{name: version}`` of every ``name==version`` line of a lock."""
    return {_normal(name): version for name, version in _PIN.findall(lock.read_text())}


def _uv(*arguments: str) -> None:
    """Run the uv of this interpreter's environment; exit with its output if it fails."""
    command = [sys.executable, "-m", "uv", *arguments]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        sys.stderr.write(result.stdout + result.stderr)
        sys.exit(f"lock: uv failed: {' '.join(arguments)}")


def _compile(
    output: Path, *arguments: str, upgrade: bool, sources: tuple[str, ...] = ("pyproject.toml",)
) -> None:
    _uv(
        "pip",
        "compile",
        *sources,
        *arguments,
        "--universal",
        f"--python-version={PYTHON_VERSION}",
        "--generate-hashes",
        # `coverage[toml]==7.17.3` rather than `coverage==...`: pip's hash-checking mode
        # takes a dependency on an extra (pytest-cov's) as another, unpinned requirement.
        "--no-strip-extras",
        "--quiet",
        "--custom-compile-command=make lock",
        *(["--upgrade"] if upgrade else []),
        f"--output-file={output}",
    )


def write_locks(directory: Path, *, upgrade: bool = False) -> None:
    """Write the three locks into ``directory`` (keeping the pins of those already there)."""
    project = tomllib.loads(PYPROJECT.read_text())
    dev = directory / "dev.lock"
    _compile(dev, "--extra=dev", upgrade=upgrade)
    _compile(directory / "runtime.lock", f"--constraint={dev}", upgrade=upgrade)
    with tempfile.TemporaryDirectory() as scratch:
        # uv reads requirements from files; the annotations name them, so the names are fixed.
        source = Path(scratch) / "build-system.in"
        source.write_text("\n".join(project["build-system"]["requires"]) + "\n")
        # mypy, at dev.lock's version (the one `make native` and the tests use): mypyc is
        # part of it, and setup.py imports it only for a compiled build (SLA_WORKER_NATIVE=1).
        native = Path(scratch) / "native-build.in"
        native.write_text("mypy\n")
        _compile(
            directory / "build.lock",
            f"--constraint={dev}",
            upgrade=upgrade,
            sources=(str(source), str(native)),
        )
    # The annotations name the input and constraint files as uv was given them: name them
    # as they are in the repository, so that a lock written elsewhere (--check) compares.
    for lock in LOCKS:
        path = directory / lock
        text = path.read_text().replace(str(source), "pyproject.toml [build-system]")
        text = text.replace(str(native), "native_modules.py (mypyc)")
        path.write_text(text.replace(f"{dev}", "requirements/dev.lock"))


def _pyproject_disagreements() -> list[str]:
    """Return each exact pin of pyproject.toml that a lock does not hold at that version."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    wanted = {
        "runtime.lock": project["dependencies"],
        "dev.lock": [*project["dependencies"], *project["optional-dependencies"]["dev"]],
    }
    problems = []
    for lock, requirements in wanted.items():
        path = HERE / lock
        if not path.is_file():
            problems.append(f"{lock} is missing")
            continue
        pins = pinned(path)
        for requirement in requirements:
            match = _EXACT.match(requirement)
            if match is None:
                continue  # a range: only the full regeneration below can judge it
            name, version = _normal(match[1]), match[2]
            if pins.get(name) != version:
                found = pins.get(name, "nothing")
                problems.append(f"pyproject.toml pins {name}=={version}, {lock} has {found}")
    return problems


def _check_uv_version() -> None:
    """Exit unless the installed uv is the one pinned in pyproject.toml's dev extra."""
    dev = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["dev"]
    wanted = next((m[2] for r in dev if (m := _EXACT.match(r)) and _normal(m[1]) == "uv"), None)
    try:
        installed = metadata.version("uv")
    except metadata.PackageNotFoundError:
        sys.exit(f"lock: uv is not installed in {sys.prefix}: run `make install`")
    if wanted is not None and installed != wanted:
        sys.exit(f"lock: uv {installed} is installed, pyproject.toml pins {wanted}: make install")


def check() -> int:
    """Return 0 if pyproject.toml and the locks agree, else 1 after saying why."""
    problems = _pyproject_disagreements()
    if problems:
        for problem in problems:
            print(f"lock: {problem}", file=sys.stderr)
        print("lock: pyproject.toml and requirements/ disagree: run `make lock`", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as scratch:
        fresh = Path(scratch)
        for lock in LOCKS:
            shutil.copy(HERE / lock, fresh / lock)
        write_locks(fresh)
        differences = []
        for lock in LOCKS:
            old, new = (HERE / lock).read_text(), (fresh / lock).read_text()
            if old != new:
                differences.extend(
                    difflib.unified_diff(
                        old.splitlines(keepends=True),
                        new.splitlines(keepends=True),
                        f"requirements/{lock}",
                        f"requirements/{lock} (from pyproject.toml)",
                    )
                )
    if differences:
        sys.stderr.writelines(differences[:200])
        print("lock: the locks are not what pyproject.toml gives: run `make lock`", file=sys.stderr)
        return 1
    print(f"lock: pyproject.toml and requirements/{{{','.join(LOCKS)}}} agree")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Write the locks, or check them with ``--check``; return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    action = parser.add_mutually_exclusive_group()
    action.add_argument("--check", action="store_true", help="compare, do not write")
    action.add_argument("--upgrade", action="store_true", help="newest allowed versions")
    arguments = parser.parse_args(argv)
    _check_uv_version()
    if arguments.check:
        return check()
    write_locks(HERE, upgrade=arguments.upgrade)
    counts = ", ".join(f"{lock} {len(pinned(HERE / lock))}" for lock in LOCKS)
    print(f"lock: wrote requirements/ ({counts} packages)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
