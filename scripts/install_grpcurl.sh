#!/usr/bin/env bash
# Installs grpcurl, pinned, into .tools/bin of the repository (the grpcurl test runs it from there).
# Built from source with the Go toolchain through the Go module proxy, since prebuilt binaries
# cannot be downloaded here. Skips the build when the binary there is already this version.
set -euo pipefail

GRPCURL_VERSION="v1.9.4"
MODULE="github.com/fullstorydev/grpcurl"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${root}/.tools/bin"
binary="${bin_dir}/grpcurl"

# `go version -m` reads the module version the binary was built from; `grpcurl -version` cannot
# tell, as only release builds stamp it.
installed_version() {
  go version -m "${binary}" 2>/dev/null | awk -v mod="${MODULE}" '$1 == "mod" && $2 == mod { print $3 }'
}

if ! command -v go >/dev/null 2>&1; then
  echo "install_grpcurl.sh: needs the Go toolchain (go) on PATH" >&2
  exit 1
fi

if [[ -x "${binary}" && "$(installed_version)" == "${GRPCURL_VERSION}" ]]; then
  echo "grpcurl ${GRPCURL_VERSION} already in ${bin_dir}"
  exit 0
fi

mkdir -p "${bin_dir}"
GOBIN="${bin_dir}" go install "${MODULE}/cmd/grpcurl@${GRPCURL_VERSION}"
echo "installed grpcurl ${GRPCURL_VERSION} in ${bin_dir}"
