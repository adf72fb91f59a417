# The sla-worker image: `sla-worker run` by default, any other command as arguments
# (`docker run --rm sla-worker:0.1.0 policy check /app/policies/demo.yaml`).
#
#   docker build -t sla-worker:0.1.0 .
#
# Two stages on the same pinned base: the builder installs the package and its pinned
# dependencies into a virtual environment; the runtime stage copies only that environment,
# so pip's caches and the build backend never reach the shipped image. Every dependency
# has a manylinux wheel for x86_64 (rocksdict included), so no compiler is installed; on
# arm64 faust-streaming builds from its source distribution and, without a compiler, falls
# back to its pure-Python code (same behaviour, without the optional C speedups).
#
# Update both FROM lines together (the virtual environment's interpreter links into the
# base image's /usr/local).

FROM python:3.11.14-slim-bookworm AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_ROOT_USER_ACTION=ignore

RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src

# Dependencies first, from the exact pins in pyproject.toml: a change to the code alone
# reuses this layer instead of downloading every dependency again.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the package itself. README.md is the package's long description (pyproject.toml);
# the wildcard makes it optional.
COPY README.md* ./
COPY worker/ ./worker/
RUN pip install --no-deps . \
    && sla-worker --version


FROM python:3.11.14-slim-bookworm AS runtime

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

# Liveness: /healthz answers while the event loop and the deadline timer run. The slim
# image has no curl, so Python's urllib asks (an HTTP error or no answer exits non-zero).
# The start period covers the broker check and state recovery after a restart.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${SLA_WEB_PORT:-6066}/healthz', timeout=4)"

ENTRYPOINT ["sla-worker"]
CMD ["run"]
