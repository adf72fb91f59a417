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
# the package's wheel with the backend pinned in requirements/build.lock, without build
# isolation, so nothing unpinned is downloaded. PIP_INDEX_URL (a build argument) points pip
# at a mirror. The runtime stage copies only that environment: pip's caches and the build
# backend never reach the shipped image. Every dependency has a manylinux wheel for x86_64
# (rocksdict included), so no compiler is installed; on arm64 faust-streaming builds from
# its source distribution and, without a compiler, falls back to its pure-Python code
# (same behaviour, without the optional C speedups).

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

# Dependencies first, from the locks alone: a change to the code reuses this layer instead
# of downloading every dependency again.
COPY requirements/runtime.lock requirements/build.lock ./requirements/
RUN /opt/venv/bin/pip install --require-hashes -r requirements/runtime.lock \
    && /opt/build/bin/pip install --require-hashes -r requirements/build.lock

# Then the package itself. README.md is the package's long description (pyproject.toml);
# the wildcard makes it optional.
COPY pyproject.toml README.md* ./
COPY worker/ ./worker/
RUN /opt/build/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/dist . \
    && /opt/venv/bin/pip install --no-deps /tmp/dist/*.whl \
    && /opt/venv/bin/sla-worker --version


FROM ${BASE_IMAGE} AS runtime

LABEL org.opencontainers.image.title="sla-worker" \
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
