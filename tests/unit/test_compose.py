"""The container files: Dockerfile, .dockerignore, docker-compose.yml, deploy/compose/ and
deploy/container/ (the offline override and the Kafka stand-in).

No engine is needed: these tests read the files as data and pin what `docker compose up`
relies on (pinned images, ports on 127.0.0.1 only and set by variables, health checks,
start order, settings the worker knows, mounts that exist), that the compose variants of
the Prometheus, Alertmanager and Grafana files stay in step with the ones they copy (Grafana
is checked only here: its image cannot be had where the container tests run), and that the
offline override replaces images only. tests/container/ builds and runs all of it.
"""

from __future__ import annotations

import fnmatch
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from worker.edge.settings import ENV_NAMES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
OFFLINE_FILE = ROOT / "deploy" / "container" / "compose.offline.yml"
KAFKA_STAND_IN = ROOT / "deploy" / "container" / "kafka"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
COMPOSE_DIR = ROOT / "deploy" / "compose"
PROMETHEUS_DIR = ROOT / "deploy" / "prometheus"
GRAFANA_DIR = ROOT / "deploy" / "grafana"
# What a local `make native` leaves in the tree (.dockerignore keeps it out of the image).
NATIVE_BUILD = frozenset(
    [path.relative_to(ROOT).as_posix() for path in (ROOT / "worker").rglob("*.so")]
    + ["worker/.native-build"]
)
POLICY_NAMES = sorted(path.stem for path in (ROOT / "deploy" / "policies").glob("*.yaml"))
VERSION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]

SERVICES = {"kafka", "topics", "worker-1", "worker-2", "prometheus", "alertmanager", "grafana"}
WORKERS = ("worker-1", "worker-2")
HEALTH_CHECKED = {"kafka", *WORKERS, "prometheus", "alertmanager", "grafana"}
SETTINGS = frozenset(ENV_NAMES.values())
# An exact release: major.minor.patch, with an optional leading v (prom/*).
EXACT_TAG = re.compile(r"^v?\d+\.\d+\.\d+([.-][0-9A-Za-z.-]+)?$")
_VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?-)(?P<default>[^}]*))?\}")


# --- helpers -------------------------------------------------------------------------------


def interpolate(text: str, variables: dict[str, str] | None = None) -> str:
    """Resolve ``${NAME:-default}`` as compose does, from ``variables`` or the default.

    A variable without a default fails the test: the stack must start without a .env file.
    """
    variables = variables or {}

    def resolve(match: re.Match[str]) -> str:
        name = match["name"]
        if name in variables:
            return variables[name]
        assert match["op"] is not None, f"${{{name}}} has no default"
        return match["default"]

    return _VARIABLE.sub(resolve, text)


def _interpolated(value: Any, variables: dict[str, str] | None) -> Any:
    """Return ``value`` with every string in it interpolated (as compose: values, not text)."""
    if isinstance(value, str):
        return interpolate(value, variables)
    if isinstance(value, dict):
        return {key: _interpolated(item, variables) for key, item in value.items()}
    if isinstance(value, list):
        return [_interpolated(item, variables) for item in value]
    return value


def load_compose(variables: dict[str, str] | None = None) -> dict[str, Any]:
    """Return docker-compose.yml as data (YAML merge keys resolved), variables resolved."""
    return _interpolated(yaml.safe_load(COMPOSE_FILE.read_text()), variables)


COMPOSE = load_compose()


def service(name: str) -> dict[str, Any]:
    return COMPOSE["services"][name]


def environment(name: str) -> dict[str, str]:
    """Return a service's environment as a mapping (compose allows a list of K=V too)."""
    env = service(name).get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


def ours() -> list[str]:
    """Return the services that run the sla-worker image (built from the Dockerfile)."""
    return sorted(name for name, svc in COMPOSE["services"].items() if "build" in svc)


def mounts(name: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(type, source, target)`` of each of a service's volumes ('bind' or 'volume')."""
    for volume in service(name).get("volumes") or []:
        if isinstance(volume, dict):
            yield volume["type"], volume["source"], volume["target"]
            continue
        source, target = volume.split(":")[:2]
        kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        yield kind, source, target


def published(name: str) -> list[tuple[str, str, str]]:
    """Return ``(host_ip, host_port, container_port)`` of each published port."""
    result = []
    for port in service(name).get("ports") or []:
        if isinstance(port, dict):
            host_ip = port.get("host_ip", "")
            result.append((host_ip, str(port.get("published", "")), str(port["target"])))
            continue
        parts = str(port).split("/")[0].split(":")
        host_ip = parts[0] if len(parts) == 3 else ""
        host_port = parts[-2] if len(parts) >= 2 else ""
        result.append((host_ip, host_port, parts[-1]))
    return result


def healthcheck_text(name: str) -> str:
    test = service(name)["healthcheck"]["test"]
    return test if isinstance(test, str) else " ".join(test)


def read_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def dockerfile() -> list[tuple[int, str, str]]:
    """Return ``(stage, INSTRUCTION, arguments)`` of the Dockerfile; stage counts FROMs."""
    lines: list[str] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments may sit inside a continued instruction too
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        lines.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    result = []
    stage = -1
    for line in lines:
        instruction, _, arguments = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "FROM":
            stage += 1
        result.append((stage, instruction, arguments.strip()))
    return result


def instructions(kind: str, *, final: bool = False) -> list[str]:
    parsed = dockerfile()
    last = parsed[-1][0]
    return [args for stage, name, args in parsed if name == kind and (not final or stage == last)]


def copy_sources(arguments: str) -> tuple[list[str], str] | None:
    """Return the build-context sources and destination of a COPY (None for --from=)."""
    words = shlex.split(arguments)
    if any(word.startswith("--from") for word in words):
        return None
    words = [word for word in words if not word.startswith("--")]
    return words[:-1], words[-1]


def image_env() -> dict[str, str]:
    """Return the ENV of the Dockerfile's final stage."""
    env: dict[str, str] = {}
    for arguments in instructions("ENV", final=True):
        for word in shlex.split(arguments):
            key, _, value = word.partition("=")
            env[key] = value
    return env


def _matches(pattern: str, path: str) -> bool:
    """Whether a .dockerignore pattern matches ``path`` or one of its parent directories."""
    pattern_parts = [part for part in pattern.strip("/").split("/") if part]
    path_parts = path.strip("/").split("/")

    def match(pattern_at: int, path_at: int) -> bool:
        if pattern_at == len(pattern_parts):
            return True  # the pattern matched this path or a parent of it
        if path_at == len(path_parts):
            return False
        if pattern_parts[pattern_at] == "**":
            return any(match(pattern_at + 1, at) for at in range(path_at, len(path_parts)))
        return fnmatch.fnmatchcase(path_parts[path_at], pattern_parts[pattern_at]) and match(
            pattern_at + 1, path_at + 1
        )

    return match(0, 0)


def ignored(path: str) -> bool:
    """Whether .dockerignore leaves ``path`` out of the build context (the last match wins)."""
    result = False
    for raw in DOCKERIGNORE.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if _matches(line.lstrip("!"), path):
            result = not negated
    return result


# --- docker-compose.yml: services and images -----------------------------------------------


def test_every_service_of_the_stack_is_defined() -> None:
    """The broker, the topics job, two workers and the monitoring services are all there."""
    assert set(COMPOSE["services"]) >= SERVICES
    assert service("loadgen")["profiles"] == ["demo"]  # optional: only with --profile demo


def test_third_party_images_are_pinned_to_an_exact_release() -> None:
    """Every image not built here names an exact release tag: no latest, no floating tag."""
    for name, svc in COMPOSE["services"].items():
        if "build" in svc:
            continue
        repository, _, tag = svc["image"].rpartition(":")
        assert repository, f"{name}: {svc['image']} has no tag"
        assert "/" not in tag, f"{name}: {svc['image']} has no tag"
        assert tag != "latest", f"{name}: {svc['image']}"
        assert EXACT_TAG.match(tag), f"{name}: {svc['image']} is not an exact release"
    assert service("kafka")["image"].startswith("apache/kafka:3.9.")


def test_our_services_build_the_dockerfile_and_tag_the_package_version() -> None:
    """topics, the workers and loadgen run the image of this repository's Dockerfile."""
    assert set(ours()) == {"topics", *WORKERS, "loadgen"}
    for name in ours():
        build = service(name)["build"]
        context = (COMPOSE_FILE.parent / build["context"]).resolve()
        assert context == ROOT, name
        assert (context / build.get("dockerfile", "Dockerfile")).resolve() == DOCKERFILE, name
        assert service(name)["image"] == f"sla-worker:{VERSION}", name


@pytest.mark.parametrize("variables", [{}, *({"POLICY": name} for name in POLICY_NAMES)])
def test_compose_variables_have_defaults_and_every_policy_works(
    variables: dict[str, str],
) -> None:
    """POLICY may name any policy of deploy/policies/: its policy and its rules exist."""
    compose = load_compose(variables)
    policy = variables.get("POLICY", "demo")
    for name in (*WORKERS, "loadgen"):
        expected = f"/app/policies/{policy}.yaml"
        assert compose["services"][name]["environment"]["SLA_POLICY"] == expected
    rules = [
        volume.split(":")[0]
        for volume in compose["services"]["prometheus"]["volumes"]
        if ".rules.yml" in volume
    ]
    assert rules == [f"./deploy/prometheus/rules/{policy}.rules.yml"]
    assert (COMPOSE_FILE.parent / rules[0]).is_file()


# --- ports, health checks, start order -----------------------------------------------------


# Each published host port's variable and default.
HOST_PORTS = {
    "kafka": ("KAFKA_HOST_PORT", "9092"),
    "worker-1": ("WORKER_1_HOST_PORT", "6066"),
    "worker-2": ("WORKER_2_HOST_PORT", "6067"),
    "prometheus": ("PROMETHEUS_HOST_PORT", "9090"),
    "alertmanager": ("ALERTMANAGER_HOST_PORT", "9094"),
    "grafana": ("GRAFANA_HOST_PORT", "3000"),
}


def test_every_published_port_listens_on_localhost_only() -> None:
    """Nothing is reachable from other machines: every host port binds 127.0.0.1."""
    seen: set[str] = set()
    for name, svc in COMPOSE["services"].items():
        assert svc.get("network_mode") != "host", name
        for host_ip, host_port, _ in published(name):
            assert host_ip == "127.0.0.1", f"{name}: port {host_port} binds {host_ip or '*'}"
            assert host_port not in seen, f"{name}: host port {host_port} published twice"
            seen.add(host_port)
    assert ("127.0.0.1", "9092", "9092") in published("kafka")
    assert ("127.0.0.1", "6066", "6066") in published("worker-1")
    assert ("127.0.0.1", "6067", "6066") in published("worker-2")


def test_every_host_port_is_a_variable_with_its_default() -> None:
    """Two stacks, or a broker of one's own on 9092, need not collide: `*_HOST_PORT`."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    published_by = {name: svc.get("ports") or [] for name, svc in raw.items()}
    assert {name for name, ports in published_by.items() if ports} == set(HOST_PORTS)
    for name, (variable, default) in HOST_PORTS.items():
        for port in published_by[name]:
            assert str(port).startswith(f"127.0.0.1:${{{variable}:-{default}}}:"), (name, port)
    moved = load_compose(
        {variable: str(20000 + i) for i, (variable, _) in enumerate(HOST_PORTS.values())}
    )
    host_ports = {
        port.split(":")[1] for svc in moved["services"].values() for port in svc.get("ports", [])
    }
    assert host_ports == {str(20000 + i) for i in range(len(HOST_PORTS))}


def test_kafka_advertises_the_published_host_port() -> None:
    """Host clients are sent to 127.0.0.1:${KAFKA_HOST_PORT}, the port that is published."""
    for variables in ({}, {"KAFKA_HOST_PORT": "19092"}):
        kafka = load_compose(variables)["services"]["kafka"]
        host_port = variables.get("KAFKA_HOST_PORT", "9092")
        assert kafka["ports"] == [f"127.0.0.1:{host_port}:9092"]
        advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"].split(",")
        assert f"HOST://127.0.0.1:{host_port}" in advertised
        # ... and the broker listens for them on the container port the host port maps to.
        assert "HOST://:9092" in kafka["environment"]["KAFKA_LISTENERS"].split(",")


def test_health_checks_on_the_broker_workers_and_monitoring() -> None:
    """Compose can wait for health: kafka, the workers, prometheus, alertmanager, grafana."""
    for name in HEALTH_CHECKED:
        check = service(name).get("healthcheck") or {}
        assert not check.get("disable"), name
        assert check.get("test"), f"{name} has no health check"
    assert "kafka-broker-api-versions.sh" in healthcheck_text("kafka")
    for name in WORKERS:
        port = environment(name).get("SLA_WEB_PORT", "6066")
        assert f"http://127.0.0.1:{port}/healthz" in healthcheck_text(name), name
        assert "curl" not in healthcheck_text(name)  # the slim image has none


def test_start_order_waits_for_a_healthy_broker_and_created_topics() -> None:
    """topics starts once kafka is healthy; workers and loadgen once topics has succeeded."""
    assert service("topics")["depends_on"]["kafka"]["condition"] == "service_healthy"
    assert service("topics").get("restart", "no") == "no"  # one-shot
    for name in (*WORKERS, "loadgen"):
        condition = service(name)["depends_on"]["topics"]["condition"]
        assert condition == "service_completed_successfully", name
    for name, svc in COMPOSE["services"].items():
        for other, dependency in (svc.get("depends_on") or {}).items():
            assert other in COMPOSE["services"], f"{name} depends on unknown {other}"
            if dependency.get("condition") == "service_healthy":
                assert "healthcheck" in service(other), f"{name} waits for {other}'s health"


# --- the workers ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["topics", *WORKERS, "loadgen"])
def test_our_services_set_only_settings_the_worker_knows(name: str) -> None:
    """Every variable is an SLA_* setting of worker.edge.settings: a typo would be ignored."""
    unknown = set(environment(name)) - SETTINGS
    assert not unknown, f"{name}: not sla-worker settings: {sorted(unknown)}"


def test_workers_reach_the_broker_on_its_internal_listener() -> None:
    """SLA_BROKER names the kafka service's listener for containers, not the host's."""
    advertised = service("kafka")["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    addresses = {listener.split("://", 1)[1] for listener in advertised.split(",")}
    for name in ours():
        broker = environment(name)["SLA_BROKER"]
        assert broker.startswith("kafka://kafka:"), name
        assert broker.removeprefix("kafka://") in addresses, name


def test_workers_are_one_deployment_that_shares_the_topics() -> None:
    """Same app id (consumer group) and topic settings for the workers, topics and loadgen."""
    shared = ("SLA_BROKER", "SLA_APP_ID", "SLA_PARTITIONS", "SLA_INPUT_TOPICS")
    reference = {key: environment("topics").get(key) for key in shared}
    assert reference["SLA_APP_ID"]
    for name in ours():
        assert {key: environment(name).get(key) for key in shared} == reference, name


@pytest.mark.parametrize("name", ["topics", "loadgen"])
def test_one_shot_services_leave_no_anonymous_volume(name: str) -> None:
    """topics and loadgen keep no state: a tmpfs covers the image's data VOLUME."""
    data_dir = image_env()["SLA_DATA_DIR"]
    assert data_dir in (service(name).get("tmpfs") or []), name


def test_each_worker_keeps_its_state_on_its_own_named_volume() -> None:
    """A named volume at SLA_DATA_DIR per worker: RocksDB files are never shared."""
    declared = set(COMPOSE.get("volumes") or {})
    default_dir = image_env()["SLA_DATA_DIR"]
    volumes = []
    for name in WORKERS:
        data_dir = environment(name).get("SLA_DATA_DIR", default_dir)
        at_data_dir = [src for kind, src, dst in mounts(name) if dst == data_dir]
        assert len(at_data_dir) == 1, f"{name}: nothing mounted at {data_dir}"
        assert at_data_dir[0] in declared, f"{name}: {at_data_dir[0]} is not a named volume"
        volumes.append(at_data_dir[0])
    assert len(set(volumes)) == len(volumes)
    kafka_dir = service("kafka")["environment"]["KAFKA_LOG_DIRS"]
    assert [src for _, src, dst in mounts("kafka") if dst == kafka_dir] == ["kafka-data"]
    assert "kafka-data" in declared


def test_workers_listen_where_they_are_published_and_scraped() -> None:
    """Each worker serves on all interfaces in its container, and Prometheus scrapes it."""
    config = read_yaml(COMPOSE_DIR / "prometheus.yml")
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {t for group in jobs["sla-worker"]["static_configs"] for t in group["targets"]}
    web_host = image_env()["SLA_WEB_HOST"]
    expected = set()
    for name in WORKERS:
        env = environment(name)
        assert env.get("SLA_WEB_HOST", web_host) == "0.0.0.0", name  # noqa: S104
        port = env.get("SLA_WEB_PORT", image_env()["SLA_WEB_PORT"])
        assert {container for _, _, container in published(name)} == {port}, name
        expected.add(f"{name}:{port}")
    assert targets == expected


# --- mounts and the compose variants of the monitoring files -------------------------------


def test_every_file_a_service_mounts_from_the_repository_exists() -> None:
    """Bind mounts are relative to the compose file and exist; named volumes are declared."""
    declared = set(COMPOSE.get("volumes") or {})
    for name in COMPOSE["services"]:
        for kind, source, target in mounts(name):
            if kind == "volume":
                assert source in declared, f"{name}: volume {source} is not declared"
                continue
            assert source.startswith("./"), f"{name}: {source} is not inside the repository"
            assert (COMPOSE_FILE.parent / source).exists(), f"{name}: {source} -> {target}"


def mounted(name: str, target: str) -> Path:
    """Return the repository file mounted at ``target`` in service ``name``."""
    for kind, source, at in mounts(name):
        if kind == "bind" and at == target:
            return COMPOSE_FILE.parent / source
        if kind == "bind" and PurePosixPath(target).is_relative_to(at):
            return COMPOSE_FILE.parent / source / PurePosixPath(target).relative_to(at)
    raise AssertionError(f"{name}: nothing mounted at {target}")


def flag(name: str, option: str) -> str:
    """Return the value of ``--option=value`` in a service's command."""
    for word in service(name)["command"]:
        if word.startswith(f"--{option}="):
            return str(word.split("=", 1)[1])
    raise AssertionError(f"{name}: no --{option}")


def test_prometheus_loads_the_compose_config_and_the_policy_rules() -> None:
    """The compose scrape config and exactly one rules file, where rule_files looks."""
    config_path = flag("prometheus", "config.file")
    assert mounted("prometheus", config_path) == COMPOSE_DIR / "prometheus.yml"
    config = read_yaml(COMPOSE_DIR / "prometheus.yml")
    config_dir = PurePosixPath(config_path).parent
    rule_targets = [dst for kind, _, dst in mounts("prometheus") if dst.endswith(".rules.yml")]
    assert len(rule_targets) == 1
    assert any(
        fnmatch.fnmatchcase(rule_targets[0], str(config_dir / pattern))
        for pattern in config["rule_files"]
    )
    assert flag("prometheus", "storage.tsdb.path") in {dst for _, _, dst in mounts("prometheus")}


def test_compose_prometheus_config_follows_the_shipped_one() -> None:
    """Same intervals and job as deploy/prometheus/prometheus.yml; compose names for hosts."""
    shipped = read_yaml(PROMETHEUS_DIR / "prometheus.yml")
    compose = read_yaml(COMPOSE_DIR / "prometheus.yml")
    assert compose["global"] == shipped["global"]
    assert [job["job_name"] for job in compose["scrape_configs"]] == ["sla-worker"]
    alertmanagers = {
        target
        for manager in compose["alerting"]["alertmanagers"]
        for group in manager["static_configs"]
        for target in group["targets"]
    }
    container_ports = {port for _, _, port in published("alertmanager")}
    assert alertmanagers == {f"alertmanager:{port}" for port in container_ports}
    assert "127.0.0.1" not in (COMPOSE_DIR / "prometheus.yml").read_text().split("#")[0]


def test_compose_alertmanager_routes_as_the_shipped_one_without_local_webhooks() -> None:
    """Identical routing and inhibition; receivers keep their names but send nowhere local."""
    config_path = flag("alertmanager", "config.file")
    assert mounted("alertmanager", config_path) == COMPOSE_DIR / "alertmanager.yml"
    shipped = read_yaml(PROMETHEUS_DIR / "alertmanager.yml")
    compose = read_yaml(COMPOSE_DIR / "alertmanager.yml")
    assert compose["route"] == shipped["route"]
    assert compose["inhibit_rules"] == shipped["inhibit_rules"]
    assert compose["global"] == shipped["global"]
    names = [receiver["name"] for receiver in compose["receivers"]]
    assert names == [receiver["name"] for receiver in shipped["receivers"]]
    urls = re.findall(r"https?://[^\s'\"]+", yaml.safe_dump(compose["receivers"]))
    assert not [url for url in urls if "127.0.0.1" in url or "localhost" in url]


def test_grafana_provisions_the_compose_datasource_and_the_dashboards() -> None:
    """Grafana reads Prometheus by service name, and the provider's path holds the dashboard."""
    provisioning = "/etc/grafana/provisioning"
    datasources = mounted("grafana", f"{provisioning}/datasources")
    assert datasources == COMPOSE_DIR / "grafana" / "datasources"
    compose = read_yaml(datasources / "sla-worker.yml")
    shipped = read_yaml(GRAFANA_DIR / "provisioning" / "datasources" / "sla-worker.yml")
    assert [source["url"] for source in compose["datasources"]] == ["http://prometheus:9090"]
    assert {port for _, _, port in published("prometheus")} == {"9090"}
    for source in (*compose["datasources"], *shipped["datasources"]):
        source.pop("url")
    assert compose == shipped

    providers = mounted("grafana", f"{provisioning}/dashboards")
    assert providers == GRAFANA_DIR / "provisioning" / "dashboards"
    for provider in read_yaml(providers / "sla-worker.yml")["providers"]:
        dashboards = mounted("grafana", provider["options"]["path"])
        assert dashboards == GRAFANA_DIR / "dashboards"
        assert list(dashboards.glob("*.json"))
    home = service("grafana")["environment"].get("GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH")
    if home:
        assert mounted("grafana", home).is_file()


# --- Dockerfile and .dockerignore ----------------------------------------------------------


def dockerfile_base_default() -> str:
    """Return the default of the Dockerfile's BASE_IMAGE argument (declared before FROM)."""
    declared = [args for stage, name, args in dockerfile() if name == "ARG" and stage == -1]
    defaults = dict(arg.split("=", 1) for arg in declared if "=" in arg)
    return defaults["BASE_IMAGE"]


def test_dockerfile_is_multi_stage_on_one_base_argument() -> None:
    """Every stage is FROM ${BASE_IMAGE}, whose default is an exact python:3.11.x tag."""
    bases = [args.split()[0] for args in instructions("FROM")]
    assert len(bases) >= 2
    # One base for all stages (the venv links into it), replaceable where the default's
    # registry is unreachable (a mirror, or an image made from Debian packages).
    assert set(bases) == {"${BASE_IMAGE}"}
    repository, _, tag = dockerfile_base_default().rpartition(":")
    assert repository == "docker.io/library/python"
    assert re.fullmatch(r"3\.11\.\d+-slim-bookworm", tag)
    for name in ours():
        build_args = service(name)["build"]["args"]
        assert build_args["BASE_IMAGE"] == dockerfile_base_default(), name


def test_dockerfile_needs_only_python3_and_installs_from_the_locks() -> None:
    """python3 (a plain Debian base has no `python`), hashed locks, the docker format noted."""
    runs = " ".join(instructions("RUN"))
    assert not re.search(r"(^|[\s;&|])python\s", runs), "use python3: Debian has no python"
    assert "pip install --require-hashes -r requirements/runtime.lock" in runs
    assert "--require-hashes -r requirements/build.lock" in runs
    assert "--no-deps --no-build-isolation" in runs  # the package alone, locked backend
    assert "python3 " in " ".join(instructions("HEALTHCHECK", final=True))
    header = DOCKERFILE.read_text().split("\nARG ", 1)[0]
    assert "--format docker" in header  # podman's OCI default drops HEALTHCHECK


def test_dockerfile_runs_as_a_fixed_non_root_user() -> None:
    """The final stage switches to uid 10001 before the entrypoint; never root."""
    users = instructions("USER", final=True)
    assert users, "the final stage has no USER"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}
    assert user == "10001"


def test_dockerfile_health_check_port_and_entrypoint() -> None:
    """HEALTHCHECK on /healthz with Python (no curl), EXPOSE 6066, `sla-worker run`."""
    checks = instructions("HEALTHCHECK", final=True)
    assert len(checks) == 1
    assert "/healthz" in checks[0]
    assert "urllib" in checks[0]
    assert "6066" in instructions("EXPOSE", final=True)[0].split()
    assert instructions("ENTRYPOINT", final=True) == ['["sla-worker"]']
    assert instructions("CMD", final=True) == ['["run"]']


def test_dockerfile_defaults_suit_a_container() -> None:
    """Settings the worker knows: data on the volume, all interfaces, a shipped policy."""
    env = image_env()
    settings = {key for key in env if key.startswith("SLA_")}
    assert settings <= SETTINGS
    assert env["SLA_WEB_HOST"] == "0.0.0.0"  # noqa: S104 - published on 127.0.0.1 by compose
    assert env["SLA_DATA_DIR"] == "/var/lib/sla-worker"
    assert env["SLA_DATA_DIR"] in " ".join(instructions("VOLUME", final=True))
    policy = PurePosixPath(env["SLA_POLICY"])
    assert policy.is_relative_to("/app/policies")
    assert (ROOT / "deploy" / "policies" / policy.relative_to("/app/policies")).is_file()


def test_every_path_the_dockerfile_copies_exists_and_reaches_the_context() -> None:
    """COPY sources exist (a wildcard may match nothing) and .dockerignore lets them in."""
    for arguments in instructions("COPY"):
        copied = copy_sources(arguments)
        if copied is None:
            continue  # from another stage
        sources, _ = copied
        assert sources, arguments
        for source in sources:
            if any(char in source for char in "*?["):
                continue  # optional by design (README.md*)
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such path"
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for file in files:
                relative = file.relative_to(ROOT).as_posix()
                if "__pycache__" in relative or relative in NATIVE_BUILD:
                    continue  # a local build's output: the image makes its own
                assert not ignored(relative), f"{relative} is copied but .dockerignore drops it"


@pytest.mark.parametrize(
    "path",
    [
        ".venv/bin/python",
        ".run/kafka/data",
        ".git/HEAD",
        "tests/unit/test_compose.py",
        "deploy/kafka/lib/kafka_2.13-3.9.1.jar",
        ".mypy_cache/3.11/x.json",
        ".pytest_cache/v/cache",
        ".hypothesis/examples",
        ".coverage",
        ".env",
        "worker/__pycache__/app.cpython-311.pyc",
        "requirements/dev.lock",
        "worker/core/tracker.cpython-311-x86_64-linux-gnu.so",
        "worker/_native__mypyc.cpython-311-x86_64-linux-gnu.so",
        "worker/.native-build",
    ],
)
def test_dockerignore_keeps_local_state_and_tests_out(path: str) -> None:
    """The virtual environment, broker state, caches, jars, tests and a local `make native`
    build's modules never reach the image (its builder compiles its own)."""
    assert ignored(path)


# --- deploy/container/: the offline override and the Kafka stand-in ------------------------


def offline() -> dict[str, Any]:
    return _interpolated(yaml.safe_load(OFFLINE_FILE.read_text()), None)


def test_offline_override_replaces_images_only() -> None:
    """compose.offline.yml swaps images (and what runs in them), never settings or ports."""
    allowed = {"image", "entrypoint", "user", "profiles"}
    services = offline()["services"]
    assert set(offline()) == {"services"}
    assert set(services) <= set(COMPOSE["services"])
    for name, svc in services.items():
        assert set(svc) <= allowed, f"{name} overrides {sorted(set(svc) - allowed)}"
        assert "build" not in COMPOSE["services"][name], f"{name} is ours: built, not replaced"
    # Every image that docker-compose.yml pulls is replaced, or off by default (a profile).
    pulled = {name for name, svc in COMPOSE["services"].items() if "build" not in svc}
    assert pulled == set(services)
    for name, svc in services.items():
        assert "image" in svc or svc.get("profiles"), name
        if "image" in svc:
            assert svc["image"].startswith("localhost/"), name


def test_kafka_stand_in_is_the_release_of_the_local_broker() -> None:
    """localhost/sla-worker-kafka:<kafka.version of deploy/kafka/pom.xml>, same health check."""
    pom = (ROOT / "deploy" / "kafka" / "pom.xml").read_text()
    version = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    assert version
    assert offline()["services"]["kafka"]["image"] == f"localhost/sla-worker-kafka:{version[1]}"
    assert COMPOSE["services"]["kafka"]["image"].endswith(f":{version[1]}")
    # docker-compose.yml's health check runs apache/kafka's script; the stand-in has one.
    script = "/opt/kafka/bin/kafka-broker-api-versions.sh"
    assert script in healthcheck_text("kafka")
    containerfile = (KAFKA_STAND_IN / "Containerfile").read_text()
    copied = re.search(rf"^COPY (\S+) {re.escape(script)}$", containerfile, re.MULTILINE)
    assert copied
    assert (KAFKA_STAND_IN / copied[1]).is_file()
