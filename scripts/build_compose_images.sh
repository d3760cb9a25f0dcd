#!/usr/bin/env bash
# `make compose-images`: local stand-ins for the public images docker-compose.yml runs beside
# Helpline's own, for a machine that reaches Debian's archive and Maven Central but no container
# registry (docs/operations.md, "The compose stack under podman"). Built with podman on the Debian
# base `make image` makes (localhost/helpline-base:bookworm), from the project's own files:
#
#   localhost/helpline-kafka:4.3.1       deploy/compose/kafka: bookworm's JRE 17 and the jars of the
#                                        local broker (deploy/local/pom.xml, var/kafka-lib)
#   localhost/helpline-redis:bookworm    deploy/compose/redis: bookworm's redis-server
#   localhost/helpline-prometheus:bookworm  deploy/compose/prometheus: bookworm's prometheus
#
# docker-compose.yml runs them when KAFKA_IMAGE, REDIS_IMAGE and PROMETHEUS_IMAGE name them (the
# compose test writes those into its env file; `--print-env` prints them). An image is built again
# only when its inputs changed: their digest is kept in var/image/<name>.inputs.
# Requires: `make image` (the base) and the Kafka jars (`make deps`).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

BASE_IMAGE="localhost/helpline-base:bookworm"
KAFKA_IMAGE="localhost/helpline-kafka:4.3.1"
REDIS_IMAGE="localhost/helpline-redis:bookworm"
PROMETHEUS_IMAGE="localhost/helpline-prometheus:bookworm"

if [[ "${1:-}" == "--print-env" ]]; then
  printf 'KAFKA_IMAGE=%s\nREDIS_IMAGE=%s\nPROMETHEUS_IMAGE=%s\n' "${KAFKA_IMAGE}" "${REDIS_IMAGE}" "${PROMETHEUS_IMAGE}"
  exit 0
fi

PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)
cache="var/image"
mkdir -p "${cache}"

step() { printf '==> %s\n' "$*"; }

if ! "${PODMAN[@]}" image exists "${BASE_IMAGE}"; then
  echo "no ${BASE_IMAGE}: run \`make image\` first" >&2
  exit 1
fi
base_id="$("${PODMAN[@]}" image inspect --format '{{.Id}}' "${BASE_IMAGE}")"

# apt fetches from the base's Debian mirror (the one `make image` made it from) over plain HTTP, as
# apt does, checking the archive's signatures: the host's CAs are not mounted, unlike the Python
# builds', and they must not be: a read-only /etc/ssl/certs breaks the JRE's ca-certificates-java.

# build IMAGE CONTEXT: podman build of CONTEXT/Dockerfile on the base, unless the image exists and
# was built from the same context and base.
build() {
  local image="$1" context="$2" name inputs
  name="$(basename "${context}" | sed 's/-context$//')"
  inputs="$(
    {
      echo "${base_id}"
      (cd "${context}" && find . -type f -print0 | sort -z | xargs -0 sha256sum)
    } | sha256sum | cut -d' ' -f1
  )"
  if "${PODMAN[@]}" image exists "${image}" && [[ "$(cat "${cache}/${name}.inputs" 2>/dev/null)" == "${inputs}" ]]; then
    step "${image}: up to date"
    return
  fi
  step "building ${image} from ${context}"
  local started=${SECONDS}
  "${PODMAN[@]}" build "${ULIMITS[@]}" --network host --pull=never --quiet \
    --build-arg "BASE_IMAGE=${BASE_IMAGE}" --tag "${image}" "${context}" >/dev/null
  echo "${inputs}" >"${cache}/${name}.inputs"
  printf '    (%ss)\n' "$((SECONDS - started))"
}

# Kafka's context: its folder and the local broker's jars, copied (var/kafka-lib may be a link).
if ! compgen -G "var/kafka-lib/kafka_2.13-*.jar" >/dev/null; then
  echo "no Kafka jars in var/kafka-lib: run \`make deps\` first" >&2
  exit 1
fi
kafka_context="${cache}/kafka-context"
rm -rf "${kafka_context}"
mkdir -p "${kafka_context}/libs"
cp deploy/compose/kafka/* "${kafka_context}/"
cp -L var/kafka-lib/*.jar "${kafka_context}/libs/"

build "${KAFKA_IMAGE}" "${kafka_context}"
build "${REDIS_IMAGE}" deploy/compose/redis
build "${PROMETHEUS_IMAGE}" deploy/compose/prometheus
