"""The project's image as an operator runs it: the CLI as a non-root user, its health check.

The image is built from the working tree (fixture ``image``). The health-check test runs
``sla-worker run`` in a container on the host's network against the session's real local
broker, and asks the engine to run the image's own HEALTHCHECK (podman without systemd runs
none by itself: ``podman healthcheck run``; docker runs it and reports the status).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from pathlib import Path

import pytest
from container_tools import ROOT, run
from harness import Deployment, free_port

pytestmark = pytest.mark.container

# The image's HEALTHCHECK allows a 60 s start period; a worker on a busy CI machine is
# healthy well within it (imports, group join, recovery of empty topics).
HEALTHY_TIMEOUT_S = 90.0
# Polling the engine: each check starts a Python process in the container.
HEALTH_POLL_S = 1.0


def test_image_runs_the_cli_as_a_fixed_non_root_user(engine: str, image: str) -> None:
    """`--help` works, and the process runs as uid 10001, not root (USER 10001:10001)."""
    config = json.loads(run([engine, "image", "inspect", image]).stdout)[0]["Config"]
    assert config["User"] == "10001:10001"
    assert run([engine, "run", "--rm", "--entrypoint", "id", image, "-u"]).stdout.strip() == (
        "10001"
    )
    usage = run([engine, "run", "--rm", image, "--help"]).stdout
    assert "Usage: sla-worker" in usage
    assert "run" in usage


def test_image_validates_the_policies_it_ships(engine: str, image: str) -> None:
    """`policy check` accepts every policy of deploy/policies/, copied to /app/policies."""
    names = sorted(path.name for path in (ROOT / "deploy" / "policies").glob("*.yaml"))
    assert names
    checked = run(
        [engine, "run", "--rm", image, "policy", "check"]
        + [f"/app/policies/{name}" for name in names]
    )
    for name in names:
        assert f"ok: /app/policies/{name}" in checked.stdout


def test_image_runs_the_compiled_core(engine: str, image: str) -> None:
    """Every module native_modules.py lists is a compiled extension in the image (NATIVE=1,
    the default build), not its Python source, and the image's label says so."""
    names = run([sys.executable, str(ROOT / "native_modules.py"), "--names"]).stdout.split()
    assert names
    probe = (
        "import importlib, sys\n"
        "for name in sys.argv[1:]:\n"
        "    print(name, importlib.import_module(name).__file__)\n"
    )
    shown = run([engine, "run", "--rm", "--entrypoint", "python3", image, "-c", probe, *names])
    origins = dict(line.split(" ", 1) for line in shown.stdout.splitlines())
    assert sorted(origins) == sorted(names)
    pure = [name for name, origin in origins.items() if not origin.endswith(".so")]
    assert not pure, f"pure Python in the image: {pure}"
    labels = json.loads(run([engine, "image", "inspect", image]).stdout)[0]["Config"]["Labels"]
    assert labels["dev.sla-worker.native"] == "1"


def _health(engine: str, name: str) -> tuple[bool, str]:
    """Return whether the container's health check passes now, and what the engine said."""
    if engine == "podman":
        result = run([engine, "healthcheck", "run", name], check=False)
        return result.returncode == 0, (result.stdout + result.stderr).strip()
    status = run([engine, "inspect", "--format", "{{.State.Health.Status}}", name]).stdout
    return status.strip() == "healthy", status.strip()


async def test_health_check_passes_against_a_running_worker(
    engine: str, image: str, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """The image's HEALTHCHECK (GET /healthz) passes once the worker runs on a real broker."""
    inspected = run([engine, "image", "inspect", "--format", "{{json .Config.Healthcheck}}", image])
    check = " ".join(json.loads(inspected.stdout)["Test"])
    assert "/healthz" in check  # kept by the docker format (`--format docker` with podman)

    deployment = await Deployment.create(kafka_bootstrap, tmp_path, partitions=2)
    settings = {k: v for k, v in deployment.env.items() if k.startswith("SLA_")}
    web_port = settings["SLA_WEB_PORT"] = str(free_port())
    settings |= {
        "SLA_POLICY": "/app/policies/demo.yaml",
        # The host's network: the broker listens on the host's 127.0.0.1; so must the
        # worker's HTTP server, which the health check asks at 127.0.0.1:SLA_WEB_PORT.
        "SLA_WEB_HOST": "127.0.0.1",
    }
    name = f"sla-health-{secrets.token_hex(4)}"
    environment = [f"--env={key}={value}" for key, value in sorted(settings.items())]
    run([engine, "run", "--detach", f"--name={name}", "--network=host", *environment, image])
    try:
        deadline = time.monotonic() + HEALTHY_TIMEOUT_S
        healthy, said = _health(engine, name)
        while not healthy:
            running = run([engine, "inspect", "--format", "{{.State.Running}}", name]).stdout
            logs = run([engine, "logs", "--tail", "30", name], check=False)
            assert running.strip() == "true", f"the worker stopped:\n{logs.stdout}{logs.stderr}"
            assert time.monotonic() < deadline, (
                f"not healthy within {HEALTHY_TIMEOUT_S}s ({said}) on port {web_port}:\n"
                f"{logs.stdout}{logs.stderr}"
            )
            await asyncio.sleep(HEALTH_POLL_S)
            healthy, said = _health(engine, name)
    finally:
        # -v: the anonymous volume of the image's VOLUME goes with the container.
        run([engine, "rm", "--force", "--volumes", name], check=False)
        await deployment.delete_topics()
