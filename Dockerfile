# The sla-worker image: `sla-worker run` by default, any other command as arguments
# (`docker run --rm sla-worker:0.1.0 policy check /app/policies/demo.yaml`).
#
#   make image                                          # docker or podman, whichever runs
#   docker build -t sla-worker:0.1.0 .
#   podman build --format docker -t sla-worker:0.1.0 .
#
# podman and buildah build the OCI format by default, which has no HEALTHCHECK: without
# `--format docker` the health check below is silently dropped from the image.
#
# BASE_IMAGE is the base of every stage: an image with Python 3.11 as `python3`, its venv
# module, CA certificates and useradd. The default comes from Docker Hub; point it at a
# copy in your own registry, or, with no registry at all, at one made from Debian packages
# (`make image` does that by itself: deploy/container/images.sh, docs/containers.md).
# One base for both stages: the virtual environment links to the base's interpreter.
#
# The builder installs requirements/runtime.lock (every transitive dependency pinned, each
# file's hash checked: the versions the tests ran) into a virtual environment, then builds
# the package's wheel with the backend and mypy pinned in requirements/build.lock, without
# build isolation, so nothing unpinned is downloaded. PIP_INDEX_URL (a build argument)
# points pip at a mirror. The runtime stage copies only that environment: pip's caches, the
# build backend, mypy and the compiler never reach the shipped image.
#
# NATIVE=1 (the default) compiles the worker's hot path with mypyc, as `make native` does
# (docs/architecture.md, the compiled core: 20-30% more events/s per process, the same
# behaviour): the builder installs a C compiler and Python's headers from Debian's packages
# when its base lacks them, and the build fails if any listed module did not compile.
# `--build-arg NATIVE=0` builds the pure-Python package instead (no compiler, no apt).
# Every dependency has a manylinux wheel for x86_64 (rocksdict included); on arm64
# faust-streaming builds from its source distribution, with that compiler (or, with
# NATIVE=0 and none in the base, as its pure-Python fallback: same behaviour).

ARG BASE_IMAGE=docker.io/library/python:3.11.14-slim-bookworm

FROM ${BASE_IMAGE} AS builder

# The public index unless a mirror is given (an explicit default: an empty value would
# send pip nowhere).
ARG PIP_INDEX_URL=https://pypi.org/simple
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PIP_INDEX_URL=${PIP_INDEX_URL}

# /opt/venv is shipped; /opt/build holds the build backend and stays behind.
RUN python3 -m venv /opt/venv \
    && python3 -m venv /opt/build
WORKDIR /src

ARG NATIVE=1
# The compiler of the compiled build (a layer of its own, reused until the base changes):
# gcc and the C library's headers, and Python's headers unless the base has them (the
# python:*-slim images do; Debian's python3 needs python3-dev).
RUN if [ "$NATIVE" = 1 ] && ! command -v gcc >/dev/null; then \
        headers="$(python3 -c 'import os, sysconfig; print(os.path.join(sysconfig.get_paths()["include"], "Python.h"))')" \
        && extra="$([ -f "$headers" ] || echo python3-dev)" \
        && apt-get update -o Acquire::Retries=3 \
        && DEBIAN_FRONTEND=noninteractive apt-get install -y -o Acquire::Retries=3 \
            --no-install-recommends gcc libc6-dev $extra \
        && rm -rf /var/lib/apt/lists/*; \
    fi

# Dependencies first, from the locks alone: a change to the code reuses this layer instead
# of downloading every dependency again. The .pth file shows the build environment the
# runtime's packages: mypyc type-checks the package against them (msgspec, faust, ...).
COPY requirements/runtime.lock requirements/build.lock ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.lock \
    && /opt/build/bin/pip install --require-hashes -r requirements/build.lock \
    && purelib='import sysconfig; print(sysconfig.get_paths()["purelib"])' \
    && /opt/venv/bin/python -c "$purelib" \
        > "$(/opt/build/bin/python -c "$purelib")/sla-worker-runtime.pth"

# Then the package itself. README.md is the package's long description (pyproject.toml);
# the wildcard makes it optional. setup.py compiles the modules native_modules.py lists
# when SLA_WORKER_NATIVE=1; the check after it (run outside /src, so that the installed
# package is imported, not the sources) fails the build if one of them is still Python.
COPY pyproject.toml setup.py native_modules.py README.md* ./
COPY worker/ ./worker/
RUN SLA_WORKER_NATIVE="$NATIVE" /opt/build/bin/pip wheel --no-deps --no-build-isolation \
        --wheel-dir /tmp/dist . \
    && /opt/venv/bin/pip install --no-deps /tmp/dist/*.whl \
    && /opt/venv/bin/sla-worker --version \
    && cd / && /opt/venv/bin/python -c "import importlib, runpy, sys; \
names = runpy.run_path('/src/native_modules.py')['native_names'](); \
left = [n for n in names if importlib.import_module(n).__file__.endswith('.py')]; \
sys.exit(f'not compiled: {left}' if '$NATIVE' == '1' and left else 0)"


FROM ${BASE_IMAGE} AS runtime

ARG NATIVE=1
LABEL org.opencontainers.image.title="sla-worker" \
      dev.sla-worker.native="${NATIVE}" \
      org.opencontainers.image.description="Event-driven SLA monitoring worker (Kafka in, warnings, breaches, outcomes and Prometheus metrics out)" \
      org.opencontainers.image.licenses="Apache-2.0"

# A fixed, non-root uid/gid: the data volume's ownership stays valid across rebuilds, and
# a bind-mounted data directory can be prepared with `chown 10001:10001`.
RUN groupadd --system --gid 10001 sla \
    && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin sla \
    && mkdir -p /var/lib/sla-worker \
    && chown 10001:10001 /var/lib/sla-worker

COPY --from=builder /opt/venv /opt/venv

WORKDIR /app
# The reference policies (docs/policy.md) and the demo policy; mount your own over
# /app/policies (or anywhere) and point SLA_POLICY at it.
COPY deploy/policies/ /app/policies/

# Settings (docs/settings.md) that differ from a process on a laptop:
# - SLA_DATA_DIR: RocksDB state on the volume below (rebuilt from the changelog if lost);
# - SLA_WEB_HOST: 0.0.0.0, because inside a container 127.0.0.1 is unreachable from the
#   host and from Prometheus; docker-compose.yml publishes the port on the host's
#   127.0.0.1 only. Publish it wider only behind a firewall: /metrics has no auth.
# - SLA_POLICY: the demo policy (minute-scale targets); set it to your own.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    SLA_DATA_DIR=/var/lib/sla-worker \
    SLA_WEB_HOST=0.0.0.0 \
    SLA_WEB_PORT=6066 \
    SLA_POLICY=/app/policies/demo.yaml \
    SLA_LOG_FORMAT=json

USER 10001:10001
VOLUME ["/var/lib/sla-worker"]
EXPOSE 6066

# Liveness: /healthz answers while the event loop and the deadline timer run. The base
# has no curl, so Python's urllib asks (an HTTP error or no answer exits non-zero).
# The start period covers the broker check and state recovery after a restart. Kept only
# by builds in the docker format (podman: --format docker, see the top).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${SLA_WEB_PORT:-6066}/healthz', timeout=4)"

ENTRYPOINT ["sla-worker"]
CMD ["run"]
