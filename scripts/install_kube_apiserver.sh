#!/usr/bin/env bash
# A real Kubernetes API server for tests/kube/test_apiserver.py (`make kube-test`): kube-apiserver
# built from the k8s.io/kubernetes module of the Go module proxy, and the Prometheus Operator's CRDs
# for the PodMonitor and PrometheusRules, from its module. Both into var/kube-apiserver/<version>;
# skipped when there. etcd is Debian's etcd-server (`make deps`... installs it; see the Makefile).
#
# `go install k8s.io/kubernetes/cmd/kube-apiserver@v...` fails: the module's go.mod replaces every
# k8s.io/* staging module with ./staging/src/k8s.io/..., which a module zip does not contain (a
# directory with its own go.mod is left out of it). So the module's source is copied out of the
# module cache, its go.work dropped and each staging replace pointed at the published module of the
# same release (k8s.io/api v0.32.4 for Kubernetes v1.32.4), and the command built there.
# docs/operations.md, "A real API server", says what it takes and how long.
set -euo pipefail

KUBERNETES_VERSION="v1.32.4"          # kubectl's minor here: kubectl version --client
STAGING_VERSION="v0.32.4"             # the staging modules' tag of the same release
OPERATOR_VERSION="v0.80.1"            # github.com/prometheus-operator/prometheus-operator

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${root}/var/kube-apiserver/${KUBERNETES_VERSION}"
binary="${out}/kube-apiserver"
crds="${out}/crds-${OPERATOR_VERSION}"

if ! command -v go >/dev/null 2>&1; then
  echo "install_kube_apiserver.sh: needs the Go toolchain (go) on PATH" >&2
  exit 1
fi

module_dir() {
  go mod download -json "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])'
}

if [[ ! -x "${binary}" ]]; then
  started=${SECONDS}
  source_dir="$(module_dir "k8s.io/kubernetes@${KUBERNETES_VERSION}")"
  work="$(mktemp -d)"
  trap 'chmod -R u+w "${work}"; rm -rf "${work}"' EXIT
  cp -r "${source_dir}/." "${work}"
  chmod -R u+w "${work}"
  cd "${work}"
  rm -f go.work go.work.sum
  sed -i -E "s#^(\s*)(k8s\.io/[a-z0-9-]+) => \./staging/src/k8s\.io/[a-z0-9-]+\$#\1\2 => \2 ${STAGING_VERSION}#" go.mod
  if grep -q '=> ./staging' go.mod; then
    echo "install_kube_apiserver.sh: a staging replace was not rewritten:" >&2
    grep '=> ./staging' go.mod >&2
    exit 1
  fi
  minor="${KUBERNETES_VERSION#v1.}"; minor="${minor%%.*}"
  stamp=""
  for package in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    stamp+=" -X ${package}.gitVersion=${KUBERNETES_VERSION} -X ${package}.gitMajor=1 -X ${package}.gitMinor=${minor}"
    stamp+=" -X ${package}.gitTreeState=clean"
  done
  mkdir -p "${out}"
  # Two packages at a time: the machine is shared (about 3.5 min on two cores, warm module cache).
  GOFLAGS=-mod=mod go build -p 2 -trimpath -ldflags "-s -w${stamp}" -o "${binary}.tmp" ./cmd/kube-apiserver
  mv "${binary}.tmp" "${binary}"
  echo "built kube-apiserver ${KUBERNETES_VERSION} in $((SECONDS - started)) s: ${binary}"
fi

if [[ ! -d "${crds}" ]]; then
  operator_dir="$(module_dir "github.com/prometheus-operator/prometheus-operator@${OPERATOR_VERSION}")"
  mkdir -p "${crds}.tmp"
  for kind in podmonitors prometheusrules; do
    cp "${operator_dir}/example/prometheus-operator-crd/monitoring.coreos.com_${kind}.yaml" "${crds}.tmp/"
  done
  chmod -R u+w "${crds}.tmp"
  mv "${crds}.tmp" "${crds}"
fi

if [[ "${1:-}" == "--print" ]]; then
  echo "KUBE_APISERVER=${binary}"
  echo "OPERATOR_CRDS=${crds}"
fi
