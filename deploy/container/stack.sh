#!/usr/bin/env bash
# Brings docker-compose.yml's stack up in dependency order and down again, with docker
# compose or with podman-compose. The container tests use it too.
#
#   deploy/container/stack.sh up [--offline] [--build]   start; return once all is healthy
#   deploy/container/stack.sh down [--volumes]           stop and remove containers, the
#                                                        network (and the named volumes)
#   deploy/container/stack.sh compose ARGS...            the compose tool, with the same
#                                                        files and project (ps, logs, ...)
#
# --offline adds deploy/container/compose.offline.yml: Kafka, Prometheus and Alertmanager
# from images made here (deploy/container/images.sh stand-ins, made if missing) instead of
# registry images; Grafana stays off. --build (re)builds the project's image first; without
# it, the image is built only if missing (`make image` rebuilds it after a code change).
#
# With a Docker engine this is `docker compose up -d`, which orders the start on depends_on
# (health included), then a wait for every health check (Docker runs them on its own); not
# exercised where this was written (no Docker daemon there). With podman, podman-compose
# cannot order on health (podman 4.3 has no `wait --condition=healthy`, and a first start
# fails on depends_on with "no such container"), so this script starts the services with
# --no-deps in the order depends_on gives and waits on each condition itself: health by
# `podman healthcheck run` (without systemd nothing runs the checks on a schedule),
# completion by `podman wait`.
#
# Environment: COMPOSE_PROJECT_NAME (default sla-worker: the `name:` of docker-compose.yml),
# the *_HOST_PORT and POLICY variables of docker-compose.yml, ENGINE (docker or podman, as
# images.sh), PODMAN_COMPOSE (default: the virtual environment's, else the one on PATH),
# STACK_TIMEOUT (seconds to wait for each condition, default 180).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
PROJECT="${COMPOSE_PROJECT_NAME:-sla-worker}"
TIMEOUT_S="${STACK_TIMEOUT:-180}"
ENGINE="$(bash "$HERE/images.sh" engine)"
FILES=(-f "$ROOT/docker-compose.yml")

die() {
    echo "error: $*" >&2
    exit 1
}

say() {
    echo "stack: $*" >&2
}

compose() {
    if [[ "$ENGINE" == docker ]]; then
        docker compose "${FILES[@]}" -p "$PROJECT" "$@"
        return
    fi
    local tool="${PODMAN_COMPOSE:-}"
    if [[ -z "$tool" ]]; then
        if [[ -x "$ROOT/.venv/bin/podman-compose" ]]; then
            tool="$ROOT/.venv/bin/podman-compose"
        elif command -v podman-compose >/dev/null; then
            tool=podman-compose
        else
            die "podman-compose not found: make install (requirements/dev.lock pins it)"
        fi
    fi
    "$tool" "${FILES[@]}" -p "$PROJECT" "$@"
}

# The container of a service of this project (both compose tools set these labels).
container() {
    local name
    name="$("$ENGINE" ps -a --format '{{.Names}}' \
        --filter "label=com.docker.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1")"
    [[ -n "$name" ]] || die "no container for service $1 in project $PROJECT"
    echo "$name"
}

# Whether a container's health check passes now: podman runs it on request (without
# systemd nothing runs it on a schedule); Docker runs it itself and reports the status.
healthy() {
    if [[ "$ENGINE" == podman ]]; then
        podman healthcheck run "$1" >/dev/null 2>&1
    else
        [[ "$(docker inspect --format '{{.State.Health.Status}}' "$1")" == healthy ]]
    fi
}

# Waits until each service's health check passes.
wait_healthy() {
    local service name deadline=$((SECONDS + TIMEOUT_S))
    for service in "$@"; do
        name="$(container "$service")"
        until healthy "$name"; do
            if [[ "$("$ENGINE" inspect --format '{{.State.Running}}' "$name")" != true ]]; then
                "$ENGINE" logs --tail 30 "$name" >&2 || true
                die "$service stopped before becoming healthy (its last lines above)"
            fi
            if ((SECONDS >= deadline)); then
                "$ENGINE" logs --tail 30 "$name" >&2 || true
                die "$service not healthy within ${TIMEOUT_S}s (its last lines above)"
            fi
            # A check is a process in the container (a JVM for Kafka): not a busy loop.
            sleep 1
        done
        say "$service healthy"
    done
}

# Waits until a one-shot service has exited, and fails unless it exited 0.
wait_completed() {
    local name status
    name="$(container "$1")"
    status="$(timeout "$TIMEOUT_S" "$ENGINE" wait "$name")" ||
        die "$1 did not finish within ${TIMEOUT_S}s"
    if [[ "$status" != 0 ]]; then
        "$ENGINE" logs --tail 30 "$name" >&2 || true
        die "$1 exited with status $status (its last lines above)"
    fi
    say "$1 completed"
}

cmd_up() {
    local offline=0 build=0 started_at=$SECONDS
    for arg in "$@"; do
        case "$arg" in
        --offline) offline=1 ;;
        --build) build=1 ;;
        *) die "up: unknown option $arg" ;;
        esac
    done
    if ((offline)); then
        FILES+=(-f "$HERE/compose.offline.yml")
        bash "$HERE/images.sh" stand-ins
    fi
    local version image
    version="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)"
    image="sla-worker:$version"
    if ((build)) || ! "$ENGINE" image inspect "$image" >/dev/null 2>&1; then
        IMAGE="$image" bash "$HERE/images.sh" sla-worker
    fi

    if [[ "$ENGINE" == docker ]]; then
        compose up -d
    else
        # The order of docker-compose.yml's depends_on, one condition at a time.
        compose up -d --no-deps kafka alertmanager
        wait_healthy kafka
        compose up -d --no-deps topics
        wait_completed topics
        compose up -d --no-deps worker-1 worker-2 prometheus
    fi
    wait_healthy worker-1 worker-2 prometheus alertmanager
    say "up in $((SECONDS - started_at))s (project $PROJECT)"
}

cmd_down() {
    local volumes=()
    for arg in "$@"; do
        case "$arg" in
        --volumes | -v) volumes=(--volumes) ;;
        *) die "down: unknown option $arg" ;;
        esac
    done
    # Both files: services of either are taken down (the override adds none, but keeps
    # podman-compose's view of the project the same as at `up`).
    FILES+=(-f "$HERE/compose.offline.yml")
    if [[ "$ENGINE" == podman ]]; then
        # podman-compose stops every service at once; the workers first, while the broker
        # is still there to take their last commits and group leave (docker compose stops
        # in reverse dependency order by itself). Otherwise they wait out their grace period.
        compose stop worker-1 worker-2 >/dev/null 2>&1 || true
    fi
    compose down "${volumes[@]}"
}

case "${1:-}" in
up)
    shift
    cmd_up "$@"
    ;;
down)
    shift
    cmd_down "$@"
    ;;
compose)
    shift
    compose "$@"
    ;;
*)
    echo "usage: $0 up [--offline] [--build] | down [--volumes] | compose ARGS..." >&2
    exit 2
    ;;
esac
