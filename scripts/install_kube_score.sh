#!/usr/bin/env bash
# Installs kube-score, pinned, into .tools/bin of the repository: tests/static/test_k8s_manifests.py
# lints the built Kubernetes overlays with it. Built from source with the Go toolchain through the
# Go module proxy, since prebuilt binaries cannot be downloaded here (and kube-linter, the other
# candidate, is not served by the proxy under its golang.stackrox.io path). Skips the build when the
# binary there is already this version.
set -euo pipefail

KUBE_SCORE_VERSION="v1.20.0"
MODULE="github.com/zegl/kube-score"

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin_dir="${root}/.tools/bin"
binary="${bin_dir}/kube-score"

# `go version -m` reads the module version the binary was built from; `kube-score version` cannot
# tell, as only release builds stamp it.
installed_version() {
  go version -m "${binary}" 2>/dev/null | awk -v mod="${MODULE}" '$1 == "mod" && $2 == mod { print $3 }'
}

if ! command -v go >/dev/null 2>&1; then
  echo "install_kube_score.sh: needs the Go toolchain (go) on PATH" >&2
  exit 1
fi

if [[ -x "${binary}" && "$(installed_version)" == "${KUBE_SCORE_VERSION}" ]]; then
  echo "kube-score ${KUBE_SCORE_VERSION} already in ${bin_dir}"
  exit 0
fi

mkdir -p "${bin_dir}"
GOBIN="${bin_dir}" go install "${MODULE}/cmd/kube-score@${KUBE_SCORE_VERSION}"
echo "installed kube-score ${KUBE_SCORE_VERSION} in ${bin_dir}"
