#!/usr/bin/env bash
# Installs Toxiproxy's server, pinned, as .tools/bin/toxiproxy-server (the chaos tests put it between
# the services and Kafka and Redis). Built from source with the Go toolchain through the Go module
# proxy, since prebuilt binaries cannot be downloaded here. Skips the build when the binary there is
# already this version.
set -euo pipefail

TOXIPROXY_VERSION="v2.5.0"
MODULE="github.com/Shopify/toxiproxy/v2"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${root}/.tools/bin"
binary="${bin_dir}/toxiproxy-server"

installed_version() {
  go version -m "${binary}" 2>/dev/null | awk -v mod="${MODULE}" '$1 == "mod" && $2 == mod { print $3 }'
}

if ! command -v go >/dev/null 2>&1; then
  echo "install_toxiproxy.sh: needs the Go toolchain (go) on PATH" >&2
  exit 1
fi

if [[ -x "${binary}" && "$(installed_version)" == "${TOXIPROXY_VERSION}" ]]; then
  echo "toxiproxy-server ${TOXIPROXY_VERSION} already in ${bin_dir}"
  exit 0
fi

# `go install` names the binary after its package directory (`server`), too vague beside the others.
build_dir="$(mktemp -d)"
trap 'rm -rf "${build_dir}"' EXIT
GOBIN="${build_dir}" go install "${MODULE}/cmd/server@${TOXIPROXY_VERSION}"
mkdir -p "${bin_dir}"
mv "${build_dir}/server" "${binary}"
echo "installed toxiproxy-server ${TOXIPROXY_VERSION} in ${bin_dir}"
