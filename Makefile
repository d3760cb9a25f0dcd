# Helpline: `make up` runs the platform on this machine, `make test` checks everything.
# Every target installs what it is missing, so a fresh clone needs nothing but this file's tools:
# Python 3.11, a JDK with Maven, Node with npm, and Debian's apt (or the packages already there).

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# uv from PATH, else the module pip installs on first use.
UV := $(shell command -v uv 2>/dev/null)
ifeq ($(UV),)
UV := python3 -m uv
endif
RUN := $(UV) run --frozen
APT_PACKAGES := redis-server prometheus kcat
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: help deps up down test lint unit proto bench chaos clean image deploy-test compose-images compose-test kube-test kube-apiserver

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

deps: .venv/.synced var/kafka-lib/.pom-sha256 node_modules/.installed .tools/bin/grpcurl .tools/bin/docker-compose .tools/bin/kube-score .tools/bin/toxiproxy-server ## install everything the stack and tests need
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing >/dev/null; \
	fi
	@# Debian's package starts a Redis on 6379 where an init system runs; the stack runs its own.

# grpcurl, to call the services' gRPC APIs through reflection (docs/router.md; test_grpcurl.py).
.tools/bin/grpcurl: scripts/install_grpcurl.sh
	bash scripts/install_grpcurl.sh

# kube-score, to lint the built Kubernetes overlays (tests/static/test_k8s_manifests.py).
.tools/bin/kube-score: scripts/install_kube_score.sh
	bash scripts/install_kube_score.sh

# Toxiproxy, the network faults of the chaos tests (tests/chaos/).
.tools/bin/toxiproxy-server: scripts/install_toxiproxy.sh
	bash scripts/install_toxiproxy.sh

# Docker Compose v2, to validate docker-compose.yml offline (`config -q`; test_container_files.py).
.tools/bin/docker-compose: scripts/install_docker_compose.sh
	bash scripts/install_docker_compose.sh

.venv/.synced: pyproject.toml uv.lock
	@$(UV) --version >/dev/null 2>&1 || python3 -m pip install --quiet uv
	$(UV) sync --frozen
	@touch $@

var/kafka-lib/.pom-sha256: deploy/local/pom.xml .venv/.synced
	$(RUN) python -c "from devstack.local_stack import StackConfig, ensure_kafka_jars; ensure_kafka_jars(StackConfig())"

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

up: deps ## start Kafka, Redis, Prometheus and every service, then run the simulated centre until Ctrl-C (REDIS_SENTINEL=1: Redis with replicas behind Sentinels)
	$(RUN) helpline up --simulate $(if $(REDIS_SENTINEL),--redis-sentinel)

down: ## stop everything `make up` started
	$(RUN) helpline down

lint: deps ## ruff, mypy, import rules, proto freshness and buf lint
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports
	$(RUN) python scripts/proto.py check
	$(RUN) python scripts/proto.py lint
	$(RUN) python scripts/proto.py breaking
	$(RUN) python scripts/prometheus_rules.py check
	$(RUN) python -m scripts.dashboards check
	$(RUN) python scripts/k8s_generated.py check

unit: deps ## the tests that need no broker: unit tests and the static checks of the repository's files
	$(RUN) pytest tests/unit tests/static

# pytest-xdist workers for the suite, each with a Kafka broker and a Redis of its own
# (tests/stack_provider.py); the long whole-centre tests share one of them (tests/conftest.py).
TEST_WORKERS ?= 2

# On the local processes whatever engine the machine has (tests/stack_provider.py): what CI runs.
# HELPLINE_TEST_STACK=testcontainers make test runs it on containers (docs/operations.md).
test: lint ## lint, then every test on the real Kafka and Redis (what CI runs first)
	HELPLINE_TEST_STACK=$${HELPLINE_TEST_STACK:-local} $(RUN) pytest -n $(TEST_WORKERS) --dist loadgroup --durations=25

# The image from the Dockerfile, with podman and no registry: a Debian base made with debootstrap
# (cached in var/image), uv from PyPI (docs/operations.md, "Building the image without a registry").
image: ## build the services' image localhost/helpline:dev with podman, on a local Debian base
	bash scripts/build_image.sh

# Not part of `make test` (pytest never recurses into tests/deploy, tests/compose or tests/kube:
# norecursedirs in pyproject.toml); CI runs it after `make test`. tests/deploy runs the image as
# compose and the manifests do (and the bus contract tests once on testcontainers over podman, with
# the local Kafka and Redis images); then compose-test's and kube-test's tests, in the same session.
deploy-test: image compose-images kube-apiserver deps ## the built image run as docker-compose.yml and the manifests run it; the compose stack and the dev overlay under podman with the simulated centre; both overlays on a real kube-apiserver
	HELPLINE_TEST_STACK=$${HELPLINE_TEST_STACK:-local} $(RUN) pytest tests/deploy tests/compose tests/kube

# Local stand-ins for the public Kafka, Redis and Prometheus images, on the same base: Maven's jars
# (var/kafka-lib) and Debian's packages, as the local stack runs them (deploy/compose/*/Dockerfile).
compose-images: image deps ## build the local Kafka, Redis and Prometheus images docker-compose.yml can run instead of the public ones
	bash scripts/build_compose_images.sh

# Not part of `make test` either (norecursedirs). docs/operations.md, "The compose stack under podman".
compose-test: image compose-images deps ## bring docker-compose.yml up under podman, run the simulated centre against it, check its KPIs, bring it down
	$(RUN) pytest tests/compose

bench: deps ## every benchmark beside its baselines, measured in the same run; writes docs/benchmarks.md
	$(RUN) python -m bench.report

chaos: deps ## the long fault schedule under the simulated centre; writes docs/reliability.md
	$(RUN) python -m tests.chaos --report docs/reliability.md

proto: deps ## regenerate helpline/v1 from proto/
	$(RUN) python scripts/proto.py generate

clean: down ## stop the stack and remove its data (keeps the downloaded Kafka jars)
	find var -mindepth 1 -maxdepth 1 ! -name kafka-lib -exec rm -rf {} +

# Not part of `make test` either (norecursedirs). docs/operations.md, "The manifests under podman"
# and "A real API server": kube-apiserver built from the k8s.io/kubernetes module (cached in
# var/kube-apiserver) on Debian's etcd, and the Prometheus Operator's CRDs from its module.
kube-test: image compose-images kube-apiserver deps ## play the dev overlay under podman with the simulated centre, check its KPIs; apply both overlays to a real kube-apiserver
	$(RUN) pytest tests/kube

kube-apiserver: ## Debian's etcd, and kube-apiserver built from the Go module proxy into var/kube-apiserver (once)
	@dpkg -s etcd-server >/dev/null 2>&1 || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq etcd-server >/dev/null; }
	bash scripts/install_kube_apiserver.sh
