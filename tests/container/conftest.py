"""Fixtures of the container tests: the engine, the images, commands run against them.

The tests need docker (with a daemon that answers) or podman. Where neither is installed
they skip, saying how to install one; in CI (``CI=true``) a missing engine fails instead,
as CI installs podman first (``deploy/container/setup-host.sh``). The images are built
from the working tree once per session, the way ``make image`` builds them, so the tests
judge the code as it is; builds are cached by the engine (seconds when nothing changed).
With podman the compose stack runs on stand-in images made from Debian packages and the
project's Kafka jars (``deploy/container/compose.offline.yml``), which are made here too.
"""

from __future__ import annotations

import os

import pytest
from container_tools import IMAGES_SH, VERSION, detect_engine, run

# A new machine makes the Debian-based images first: minutes of package downloads.
BUILD_TIMEOUT_S = 1200


@pytest.fixture(scope="session")
def engine() -> str:
    """The container engine of this machine: docker or podman."""
    found = detect_engine()
    if found is None:
        reason = (
            "no container engine (podman, or docker with a running daemon): "
            "on Debian, `bash deploy/container/setup-host.sh` installs podman"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true: {reason}")
        pytest.skip(reason)
    return found


@pytest.fixture(scope="session")
def image(engine: str) -> str:
    """The project's image built from the working tree (and, with podman, the stand-ins)."""
    tag = f"sla-worker:{VERSION}"
    # With podman, the stand-ins of the compose stack are made alongside: on a new machine
    # both wait mostly on Debian's package servers.
    what = "all" if engine == "podman" else "sla-worker"
    run(
        ["bash", str(IMAGES_SH), what],
        env={**os.environ, "ENGINE": engine, "IMAGE": tag},
        timeout_s=BUILD_TIMEOUT_S,
    )
    return tag
