#!/usr/bin/env bash
# `make image`: builds the services' image (the Dockerfile at the root) on this machine with podman,
# without any container registry. docs/operations.md, "Building the image without a registry".
#
# 1. podman, runc and debootstrap from Debian's apt when missing;
# 2. a Debian base filesystem (debootstrap minbase with python3, pip, CAs, netbase and tzdata), made
#    once and cached in var/image/base-<suite>.tar, remade when the tar or its stamp is missing or the stamp differs;
# 3. that tar imported as localhost/helpline-base:<suite> (again when the tar is newer than the import);
# 4. uv from PyPI as a local image (the Dockerfile's uv-pypi stage, localhost/uv:<version>), then
#    `podman build` of the Dockerfile on that base with that uv, tagged localhost/helpline:dev.
#
# Every podman call runs with runc and cgroupfs: crun fails on this kernel's hybrid cgroups, and the
# sandbox cannot raise rlimits, so the build's containers get fixed ones.
# Environment: HELPLINE_IMAGE (the tag, default localhost/helpline:dev), DEBIAN_MIRROR (default: the
# mirror apt uses here), REBUILD_BASE=1 (make the base filesystem again).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${root}"

SUITE="bookworm"
# python3: the interpreter the venv links to (/usr/bin/python3.11); python3-pip: uv from PyPI in the
# Dockerfile's uv-pypi stage. ca-certificates, netbase and tzdata: what the python image installs
# beside its Python, and what the services rely on: the system's CAs when HELPLINE_KAFKA_SSL_CAFILE or
# HELPLINE_REDIS_CA_FILE is empty, the SLA calendars' time zones, /etc/services and /etc/protocols.
# passwd (useradd) is in minbase already.
INCLUDE="python3,python3-pip,ca-certificates,netbase,tzdata"
IMAGE="${HELPLINE_IMAGE:-localhost/helpline:dev}"
BASE_IMAGE="localhost/helpline-base:${SUITE}"
PYTHON_BIN="/usr/bin/python3.11"
CA_BUNDLE="/etc/ssl/certs/ca-certificates.crt"

cache="var/image"
base_tar="${cache}/base-${SUITE}.tar"
base_stamp="${cache}/base-${SUITE}.stamp"
imported_stamp="${cache}/base-${SUITE}.imported"

SUDO=""
[[ "$(id -u)" == 0 ]] || SUDO="sudo"
PODMAN=(podman --runtime runc --cgroup-manager=cgroupfs)
ULIMITS=(--ulimit nofile=1024:1024 --ulimit nproc=4096:4096)

step() { printf '==> %s\n' "$*"; }
elapsed() { printf '    (%ss)\n' "$((SECONDS - $1))"; }

# --- 1. tools -----------------------------------------------------------------------------------------
missing=()
for package in podman runc debootstrap; do
  dpkg -s "${package}" >/dev/null 2>&1 || missing+=("${package}")
done
if ((${#missing[@]})); then
  step "installing Debian packages: ${missing[*]}"
  ${SUDO} apt-get update -qq
  DEBIAN_FRONTEND=noninteractive ${SUDO} apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# --- 2. the base filesystem -----------------------------------------------------------------------------

# The first Debian archive apt is configured with (deb822 .sources or a one-line sources.list), not
# the security archive; deb.debian.org when none is found.
debian_mirror() {
  local uri
  uri="$(
    {
      grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{for (i = 2; i <= NF; i++) print $i}'
      grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
    } | grep -E '/debian/?$' | head -n 1
  )" || true
  echo "${uri:-http://deb.debian.org/debian}"
}

# Names how the base is made: a change here makes it again.
wanted_stamp="debootstrap --variant=minbase --include=${INCLUDE} ${SUITE}; slim"
if [[ "${REBUILD_BASE:-}" == 1 || ! -s "${base_tar}" || "$(cat "${base_stamp}" 2>/dev/null)" != "${wanted_stamp}" ]]; then
  mirror="${DEBIAN_MIRROR:-$(debian_mirror)}"
  step "making the ${SUITE} base filesystem with debootstrap from ${mirror} (a few minutes; once)"
  started=${SECONDS}
  mkdir -p "${cache}"
  rootfs="${cache}/rootfs-${SUITE}.tmp"
  ${SUDO} rm -rf "${rootfs}" "${base_stamp}"
  ${SUDO} debootstrap --variant=minbase --include="${INCLUDE}" "${SUITE}" "${rootfs}" "${mirror}" \
    >"${cache}/debootstrap.log" 2>&1 || {
    echo "debootstrap failed; the end of ${cache}/debootstrap.log:" >&2
    tail -n 20 "${cache}/debootstrap.log" >&2
    exit 1
  }
  # What an image does not need: downloaded packages and package lists (as Debian's images do), and
  # what Debian's slim images leave out, which the python image is built on: documentation but the
  # copyright files, manual pages, translations. The same rules keep a later apt-get from adding them.
  ${SUDO} find "${rootfs}/var/cache/apt" "${rootfs}/var/lib/apt/lists" -type f -delete
  ${SUDO} find "${rootfs}/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  ${SUDO} find "${rootfs}/usr/share/doc" -mindepth 1 -type d -empty -delete
  ${SUDO} find "${rootfs}/usr/share/man" "${rootfs}/usr/share/info" -mindepth 1 -delete
  ${SUDO} find "${rootfs}/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  ${SUDO} tee "${rootfs}/etc/dpkg/dpkg.cfg.d/slim" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  ${SUDO} tar --numeric-owner -C "${rootfs}" -cf "${base_tar}.tmp" .
  mv "${base_tar}.tmp" "${base_tar}"
  ${SUDO} rm -rf "${rootfs}"
  echo "${wanted_stamp}" >"${base_stamp}"
  elapsed "${started}"
fi

# --- 3. the base image ----------------------------------------------------------------------------------
# An imported tar has no configuration: PATH, LANG and CMD as Debian's own images set them, or
# ${PATH} in the Dockerfile would expand to nothing.
if ! "${PODMAN[@]}" image exists "${BASE_IMAGE}" || [[ ! -f "${imported_stamp}" || "${base_tar}" -nt "${imported_stamp}" ]]; then
  step "importing ${base_tar} as ${BASE_IMAGE}"
  "${PODMAN[@]}" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --quiet "${base_tar}" "${BASE_IMAGE}" >/dev/null
  touch "${imported_stamp}"
fi

# --- 4. the image -------------------------------------------------------------------------------------
version="$(python3 -c 'import tomllib; print(tomllib.load(open("pyproject.toml", "rb"))["project"]["version"])')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [[ "${revision}" != unknown && -n "$(git status --porcelain -- Dockerfile pyproject.toml uv.lock README.md helpline services 2>/dev/null)" ]]; then
  revision="${revision}-dirty"
fi
# The commit's time, not the build's, so a rebuild of the same commit reuses every layer.
created="$(git log -1 --format=%cI 2>/dev/null || echo unknown)"

tls=()
if [[ -f "${CA_BUNDLE}" ]]; then
  # This machine reaches PyPI only through its own TLS trust: the host's certificates, read-only,
  # for pip and uv in the build (build arguments, so nothing of it stays in the image).
  tls=(-v /etc/ssl/certs:/etc/ssl/certs:ro --build-arg "SSL_CERT_FILE=${CA_BUNDLE}" --build-arg "PIP_CERT=${CA_BUNDLE}")
fi

# uv from PyPI, as a local stand-in for UV_IMAGE: the Dockerfile's uv-pypi stage, on the same base.
# Built every time; podman's layer cache makes that instant unless the base or the version changed.
uv_version="$(sed -n 's/^ARG UV_VERSION=//p' Dockerfile)"
uv_image="localhost/uv:${uv_version}"
step "building ${uv_image} (uv ${uv_version} from PyPI, the Dockerfile's uv-pypi stage)"
"${PODMAN[@]}" build \
  "${ULIMITS[@]}" \
  --network host \
  --pull=never \
  --quiet \
  "${tls[@]}" \
  --build-arg "PYTHON_IMAGE=${BASE_IMAGE}" \
  --target uv-pypi \
  --tag "${uv_image}" \
  --file Dockerfile \
  . >/dev/null

step "building ${IMAGE} on ${BASE_IMAGE}"
started=${SECONDS}
"${PODMAN[@]}" build \
  "${ULIMITS[@]}" \
  --network host \
  --pull=never \
  "${tls[@]}" \
  --build-arg "PYTHON_IMAGE=${BASE_IMAGE}" \
  --build-arg "PYTHON_BIN=${PYTHON_BIN}" \
  --build-arg "UV_IMAGE=${uv_image}" \
  --build-arg "HELPLINE_VERSION=${version}" \
  --build-arg "REVISION=${revision}" \
  --build-arg "CREATED=${created}" \
  --tag "${IMAGE}" \
  --file Dockerfile \
  .
elapsed "${started}"

size="$("${PODMAN[@]}" image inspect --format '{{.Size}}' "${IMAGE}")"
step "built ${IMAGE}: $((size / 1000000)) MB (${size} bytes)"
