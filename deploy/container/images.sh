#!/usr/bin/env bash
# Builds the container images of sla-worker, with docker or podman, online or offline.
#
#   deploy/container/images.sh sla-worker   the project's image (Dockerfile): `make image`
#   deploy/container/images.sh stand-ins    Kafka, Prometheus and Alertmanager images for
#                                           hosts that cannot pull theirs (compose.offline.yml)
#   deploy/container/images.sh all          both, side by side (the container tests)
#   deploy/container/images.sh engine       print the engine it would use (docker or podman)
#
# The engine: $ENGINE if set, else docker when a Docker daemon answers (`docker info`), else
# podman. With podman, builds use `--format docker` (the OCI format drops HEALTHCHECK) and
# mount the host's CA bundle read-only ($CA_BUNDLE, default /etc/ssl/certs/ca-certificates.crt)
# over the image's, so pip trusts whatever CA re-signs this machine's outbound TLS without
# that CA ever being baked into a layer. (docker build has no volume option: behind such a
# proxy, use a registry mirror and a package index mirror, below.)
#
# The Python base image ($BASE_IMAGE): the Dockerfile's default
# (docker.io/library/python:3.11.14-slim-bookworm) when it is present or can be pulled;
# otherwise, where no registry is reachable, one made from Debian packages with mmdebstrap
# and imported as localhost/sla-worker-base:python3.11-bookworm. The stand-ins are always made
# that way (from the Kafka jars of deploy/kafka/, on a Debian Java runtime; Prometheus and
# Alertmanager from Debian's packages). Images made from Debian packages are kept: they are
# made again only when missing or when what goes into them changes (a label records it),
# or with REFRESH=1. mmdebstrap needs root (podman here runs as root anyway).
#
# Environment:
#   ENGINE                 docker or podman (default: detected, as above)
#   IMAGE                  tag of the project's image (default sla-worker:<version>)
#   BASE_IMAGE             Python base image of the Dockerfile (default: as above)
#   PIP_INDEX_URL          package index (mirror) used inside the build, passed on if set
#   NATIVE                 0 builds the pure-Python package (default 1: the hot path compiled
#                          with mypyc, a C compiler installed in the builder stage only)
#   CA_BUNDLE              host CA bundle mounted into podman builds ('' to mount none)
#   DEBIAN_MIRROR          Debian mirror for mmdebstrap (default http://deb.debian.org/debian)
#   DEBIAN_SECURITY_MIRROR (default http://deb.debian.org/debian-security)
#   REFRESH=1              make the Debian-based images again even if they are current
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SUITE=bookworm
DEFAULT_BASE=docker.io/library/python:3.11.14-slim-bookworm
DEBIAN_BASE=localhost/sla-worker-base:python3.11-$SUITE
JRE_BASE=localhost/sla-worker-base:jre17-$SUITE
MONITORING_IMAGE=localhost/sla-worker-monitoring:$SUITE
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$ROOT/deploy/kafka/pom.xml")"
KAFKA_IMAGE=localhost/sla-worker-kafka:$KAFKA_VERSION
VERSION="$(sed -n 's/^version = "\(.*\)"$/\1/p' "$ROOT/pyproject.toml" | head -n 1)"
IMAGE="${IMAGE:-sla-worker:$VERSION}"
CA_BUNDLE="${CA_BUNDLE-/etc/ssl/certs/ca-certificates.crt}"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
DEBIAN_SECURITY_MIRROR="${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
# A registry that does not answer at all (packets dropped) would otherwise hang the pull.
PULL_TIMEOUT_S=120

die() {
    echo "error: $*" >&2
    exit 1
}

say() {
    echo "images: $*" >&2
}

engine() {
    if [[ -n "${ENGINE:-}" ]]; then
        [[ "$ENGINE" == docker || "$ENGINE" == podman ]] || die "ENGINE must be docker or podman"
        echo "$ENGINE"
    elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        echo docker
    elif command -v podman >/dev/null; then
        echo podman
    else
        die "no container engine: install podman (Debian: bash deploy/container/setup-host.sh) or start Docker"
    fi
}

image_exists() {
    if [[ "$ENGINE" == podman ]]; then
        podman image exists "$1"
    else
        docker image inspect "$1" >/dev/null 2>&1
    fi
}

label_of() {
    "$ENGINE" image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}

# Options of every build: the format that keeps HEALTHCHECK, the CA bundle, the index mirror.
build_options() {
    if [[ "$ENGINE" == podman ]]; then
        printf '%s\n' --format docker
        if [[ -n "$CA_BUNDLE" && -f "$CA_BUNDLE" ]]; then
            printf '%s\n' -v "$CA_BUNDLE:/etc/ssl/certs/ca-certificates.crt:ro"
        fi
    fi
    if [[ -n "${PIP_INDEX_URL:-}" ]]; then
        printf '%s\n' --build-arg "PIP_INDEX_URL=$PIP_INDEX_URL"
    fi
    if [[ -n "${NATIVE:-}" ]]; then
        printf '%s\n' --build-arg "NATIVE=$NATIVE"
    fi
}

# debian_image NAME PACKAGES [HOOK...]: a minimal Debian root file system with PACKAGES
# (comma-separated), imported as image NAME, unless NAME exists and was made from the same
# packages and hooks. Extra arguments are mmdebstrap options (hooks).
debian_image() {
    local name="$1" packages="$2"
    shift 2
    [[ "$ENGINE" == podman ]] ||
        die "no base image could be pulled; making one from Debian packages needs podman (docker import of an mmdebstrap tarball is not scripted here): set BASE_IMAGE"
    local spec
    spec="$(printf '%s\n' 1 "$SUITE" "$packages" "$@" | sha256sum | cut -c1-16)"
    if [[ "${REFRESH:-0}" != 1 ]] && image_exists "$name" &&
        [[ "$(label_of "$name" dev.sla-worker.spec)" == "$spec" ]]; then
        say "$name is current (made from Debian packages: $packages)"
        return 0
    fi
    command -v mmdebstrap >/dev/null ||
        die "mmdebstrap not found: run deploy/container/setup-host.sh (Debian) or set BASE_IMAGE"
    ((EUID == 0)) || die "mmdebstrap needs root to make $name"
    local tmp started_at=$SECONDS
    tmp="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf '$tmp'" RETURN
    say "making $name from Debian $SUITE packages: $packages"
    # Documentation and translations are left out (dpkg path filters): nothing in a
    # container reads them. The man1 directory stays, for alternatives that link into it.
    # shellcheck disable=SC2016  # "$1" is for mmdebstrap's hook shell: the root directory
    if ! mmdebstrap --quiet --variant=minbase --include="$packages" \
        --aptopt='Acquire::Retries "3"' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --setup-hook='mkdir -p "$1/usr/share/man/man1"' \
        "$@" \
        "$SUITE" "$tmp/rootfs.tar" \
        "deb $DEBIAN_MIRROR $SUITE main" \
        "deb $DEBIAN_MIRROR $SUITE-updates main" \
        "deb $DEBIAN_SECURITY_MIRROR $SUITE-security main" \
        >"$tmp/mmdebstrap.log" 2>&1; then
        cat "$tmp/mmdebstrap.log" >&2
        die "mmdebstrap could not make $name (output above)"
    fi
    podman import --quiet \
        --change 'CMD ["/bin/bash"]' \
        --change "LABEL dev.sla-worker.spec=$spec" \
        --change "LABEL org.opencontainers.image.description=Debian $SUITE minbase with $packages" \
        "$tmp/rootfs.tar" "$name" >/dev/null
    say "made $name in $((SECONDS - started_at))s"
}

# The Python base of the project's image: the registry's, else one from Debian packages.
python_base() {
    if [[ -n "${BASE_IMAGE:-}" ]]; then
        echo "$BASE_IMAGE"
        return 0
    fi
    if image_exists "$DEFAULT_BASE"; then
        echo "$DEFAULT_BASE"
        return 0
    fi
    say "pulling $DEFAULT_BASE"
    if timeout "$PULL_TIMEOUT_S" "$ENGINE" pull --quiet "$DEFAULT_BASE" >/dev/null 2>&1; then
        echo "$DEFAULT_BASE"
        return 0
    fi
    say "cannot pull $DEFAULT_BASE (no registry reachable?): making a base from Debian packages"
    # passwd: useradd and groupadd, which minbase lacks.
    debian_image "$DEBIAN_BASE" python3,python3-venv,ca-certificates,passwd
    echo "$DEBIAN_BASE"
}

cmd_sla_worker() {
    local base started_at=$SECONDS
    base="$(python_base)"
    local options
    mapfile -t options < <(build_options)
    say "building $IMAGE with $ENGINE on $base"
    "$ENGINE" build "${options[@]}" --build-arg "BASE_IMAGE=$base" \
        -t "$IMAGE" -f "$ROOT/Dockerfile" "$ROOT"
    # The image this build replaced, now untagged: each keeps its own copy of the virtual
    # environment (~90 MB), so a machine that builds after every change would fill up.
    # Only images of this Dockerfile (its title label); the build cache is untouched.
    "$ENGINE" image prune --force --filter "label=org.opencontainers.image.title=sla-worker" \
        >/dev/null || true
    say "built $IMAGE in $((SECONDS - started_at))s"
}

cmd_stand_ins() {
    local started_at=$SECONDS
    [[ -n "$KAFKA_VERSION" ]] || die "no <kafka.version> in deploy/kafka/pom.xml"
    # The two Debian images are independent: make them side by side (mostly downloads).
    # Each keeps its own log; the first failure is reported after both have ended.
    local pids=() status=0
    (debian_image "$JRE_BASE" openjdk-17-jre-headless,passwd) &
    pids+=($!)
    # wget: the health checks of docker-compose.yml (the upstream images have busybox's).
    # The data directories belong to the packages' prometheus user, which runs both; a new
    # named volume takes the ownership of the directory it is mounted on.
    # shellcheck disable=SC2016  # "$1" is for mmdebstrap's hook shell: the root directory
    (debian_image "$MONITORING_IMAGE" prometheus,prometheus-alertmanager,wget \
        --customize-hook='chroot "$1" install -d -o prometheus -g prometheus /prometheus /alertmanager') &
    pids+=($!)
    for pid in "${pids[@]}"; do
        wait "$pid" || status=$?
    done
    ((status == 0)) || die "could not make the Debian-based images"

    bash "$ROOT/deploy/kafka/kafka.sh" fetch
    local context options
    context="$(mktemp -d)"
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf '$context'" RETURN
    cp -a "$HERE/kafka/." "$context/"
    cp -a "$ROOT/deploy/kafka/lib" "$context/libs"
    mapfile -t options < <(build_options)
    say "building $KAFKA_IMAGE on $JRE_BASE"
    "$ENGINE" build "${options[@]}" --quiet --build-arg "JRE_IMAGE=$JRE_BASE" \
        --build-arg "KAFKA_VERSION=$KAFKA_VERSION" -t "$KAFKA_IMAGE" "$context" >/dev/null
    say "stand-ins ready in $((SECONDS - started_at))s: $KAFKA_IMAGE, $MONITORING_IMAGE"
}

# On a new machine most of the time goes to downloading Debian packages: the project's
# image and the stand-ins are made side by side.
cmd_all() {
    local pid status=0
    cmd_stand_ins &
    pid=$!
    cmd_sla_worker || status=$?
    wait "$pid" || status=$?
    return "$status"
}

ENGINE="$(engine)"
case "${1:-}" in
sla-worker) cmd_sla_worker ;;
stand-ins) cmd_stand_ins ;;
all) cmd_all ;;
engine) echo "$ENGINE" ;;
*)
    echo "usage: $0 sla-worker|stand-ins|all|engine" >&2
    exit 2
    ;;
esac
