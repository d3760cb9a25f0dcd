# syntax=docker/dockerfile:1
# One image for every Helpline service: `helpline run router|tickets|sla|metrics|notify` picks the service,
# so the services share one build and one set of pinned dependencies (ARCHITECTURE.md, "one container
# image serves every service"). docker-compose.yml and tests/static/test_container_files.py read this.
#
# The build arguments below default to the public images, which is all a machine with a registry
# needs: `docker build -t helpline:0.1.0 .`. They exist for machines without one (`make image`,
# scripts/build_image.sh, docs/operations.md): a Debian base made with debootstrap and imported
# locally, whose interpreter is Debian's, and uv installed from PyPI into a local image.

# The same base in both stages: the virtual environment's interpreter is a symlink to this image's
# Python, so the runtime stage must have it at the same path. PYTHON_BIN is that path: the python
# image's own build in /usr/local, Debian's python3 package in /usr/bin.
ARG PYTHON_IMAGE=python:3.11.15-slim-bookworm
ARG PYTHON_BIN=/usr/local/bin/python3.11
# The uv the development machines run and write uv.lock with, so the lock reads the same here.
# Copied from UV_IMAGE. A build that reaches PyPI but no container registry first builds that image
# itself from the uv-pypi stage below, which installs uv==UV_VERSION with the base's pip
# (`--target uv-pypi -t localhost/uv:0.13.9`), then passes UV_IMAGE=localhost/uv:0.13.9. Keep the
# two versions equal. A build argument choosing the stage (`FROM uv-${UV_SOURCE}`) would be simpler,
# but podman 4.3's buildah ignores ARG defaults when it picks the stages to build, so a plain
# `podman build .` would fail to find the stage it skipped.
ARG UV_IMAGE=ghcr.io/astral-sh/uv:0.13.9
ARG UV_VERSION=0.13.9

# Built only when asked for with --target (no later stage uses it): uv at /uv, as in UV_IMAGE.
FROM ${PYTHON_IMAGE} AS uv-pypi
ARG UV_VERSION
# The CA bundle of a TLS-intercepting proxy, mounted into the build with the host's certificates
# (`podman build -v /etc/ssl/certs:/etc/ssl/certs:ro`): a build argument, so never kept in the image.
ARG PIP_CERT
# --target: a directory of its own, which Debian's pip allows without touching the system's packages.
RUN python3 -m pip install --no-cache-dir --disable-pip-version-check --target /opt/uv "uv==${UV_VERSION}" \
    && cp /opt/uv/bin/uv /uv

FROM ${UV_IMAGE} AS uv

FROM ${PYTHON_IMAGE} AS build
ARG PYTHON_BIN
# The same for uv: with SSL_CERT_FILE set, it trusts that bundle (the proxy's CA) for PyPI.
ARG SSL_CERT_FILE
COPY --from=uv /uv /usr/local/bin/uv
# Bytecode compiled at build time, so a read-only container starts without writing .pyc files;
# copy mode because the uv cache is a separate mount that hard links cannot cross; never a Python
# uv downloads itself, so the venv points at the base image's interpreter.
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PYTHON=${PYTHON_BIN} \
    UV_PROJECT_ENVIRONMENT=/app/.venv
WORKDIR /src

# Dependencies first, from the lockfile alone, so a source change reuses this layer. The bind mounts
# name absolute targets: BuildKit resolves a relative one against WORKDIR, podman's buildah rejects it.
RUN --mount=type=cache,target=/root/.cache/uv \
    --mount=type=bind,source=pyproject.toml,target=/src/pyproject.toml \
    --mount=type=bind,source=uv.lock,target=/src/uv.lock \
    uv sync --frozen --no-dev --no-install-project

# README.md is the package's readme in pyproject.toml: hatchling refuses to build without it.
COPY pyproject.toml uv.lock README.md ./
COPY helpline ./helpline
COPY services ./services
# --no-editable installs the project as a wheel into the venv, so the runtime stage needs the venv
# only, not this source tree; the services' entry points (`helpline run`) come with it. uv leaves
# its lock file world-writable (mode 0666, for locking across users): the one file of the venv the
# service's user could write, and nothing needs it once the venv is built.
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable \
    && rm -f /app/.venv/.lock


FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
ARG HELPLINE_VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="helpline" \
      org.opencontainers.image.description="Helpline contact-center services (router, tickets, sla, metrics, notify): helpline run <service>" \
      org.opencontainers.image.version="${HELPLINE_VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# A fixed numeric uid, so Kubernetes' runAsNonRoot can verify it without resolving a name.
RUN groupadd --system --gid 10001 helpline \
    && useradd --system --uid 10001 --gid helpline --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin helpline

# Owned by root, so the service user can read its code but never change it.
COPY --from=build /app/.venv /app/.venv

# HELPLINE_HTTP_HOST: the servers listen on loopback by default, unreachable from outside a container.
ENV PATH="/app/.venv/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HELPLINE_HTTP_HOST=0.0.0.0
WORKDIR /app
USER 10001:10001

# No HEALTHCHECK here: the one-shot `helpline topics --create` runs from this image too and has no
# /readyz to probe. Compose probes /readyz with `python -c` and urllib, since this slim base has no
# curl; Kubernetes uses httpGet.
# Deployments name the service in `command`; the router is only the default of a bare `docker run`.
CMD ["helpline", "run", "router"]
