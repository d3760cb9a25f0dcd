"""One service process: its HTTP shell (health, metrics, REST; the first two on a server of their own
with HELPLINE_OPS_PORT; helpline.http_shell), gRPC server, Kafka consumers and outbox relays, built
from settings, run until SIGTERM or SIGINT, and stopped in order.

Every service's `__main__` builds a `ServiceRuntime`, adds its parts and calls `run()`; nothing is
built at import time.
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType

import grpc
import redis
from prometheus_client import CollectorRegistry, Counter

from helpline.auth import ApiKeyStore
from helpline.bus import BatchHandler, BusMetrics, ConsumerLoop, Handler, RetryPolicy, make_producer
from helpline.durability import ReplicaBarrier
from helpline.events import event_type_label
from helpline.failures import Backoff, StoppedError, is_transient, until_available
from helpline.grpc import build_grpc_server, stop_grpc_server
from helpline.http_shell.metrics import Scrapes
from helpline.http_shell.probes import Check, kafka_check, redis_check
from helpline.http_shell.shell import HttpShell
from helpline.ingress_secrets import IngressSecrets, SecretCache
from helpline.kafka.port import Producer
from helpline.logging import configure_logging, get_logger
from helpline.outbox import OutboxMetrics, OutboxRelay
from helpline.redis_client import connect
from helpline.rest import DurableAnswerMiddleware
from helpline.settings import Settings
from helpline.tenant_proof import TenantProof
from helpline.tls import load_server_tls
from helpline.topic_admin import ensure_topics
from helpline.topics import CATALOG

log = get_logger(__name__)

# How long a thread may hold the interpreter while another waits for it (Python's default is 5 ms).
# A consumer thread makes a dozen Redis round trips a record and waits to re-enter the interpreter
# after each one; behind a busy relay, snapshot or gRPC thread, at 5 ms a switch, that wait was
# most of the router's p99 (bench/router_latency: 0.5 ms cut it by a third).
SWITCH_INTERVAL_S = 0.0005
# A worker that failed on a dependency is started again after these waits, doubling.
WORKER_BACKOFF = Backoff(initial_s=0.5, cap_s=15.0)
WORKER_STABLE_S = 60.0


@dataclass
class _Worker:
    name: str
    run: Callable[[], None]
    stop: Callable[[], None]
    thread: threading.Thread | None = None


class MissingPepperError(RuntimeError):
    """A service with an API was configured without the secret its API keys are hashed with."""


class ServiceRuntime:
    """One service process, and what its parts share: the settings it was built from; its
    Prometheus registry; its Redis clients (the service's data, and the API keys'); the API key
    store and tenant proof its APIs and consumers check callers with; its HTTP shell (`http`:
    `app`, the FastAPI app the service adds its REST API to, with the probes, /metrics and docs;
    helpline.http_shell); its gRPC services; and its Kafka consumers, outbox relays and background
    workers, each restarted after a dependency failure.

    It exists so that every service is built the same way and runs alike: a service's `build`
    makes one, adds its parts (`add_consumer`, `add_outbox_relay`, `add_worker`, `add_grpc`,
    `add_readiness_check`, routes on `app`), and `run()` starts them in order (HTTP first, so the
    probes answer while Kafka is awaited; then gRPC and the workers), reports ready once they run,
    and on SIGTERM or SIGINT stops them in reverse order, waiting for a last scrape of the metrics.
    No server, consumer or worker starts before `run()`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Read before anything starts: a bad certificate stops the process, naming the file.
        self.tls = load_server_tls(settings.tls_cert_file, settings.tls_key_file, settings.tls_client_ca_file)
        self.registry = CollectorRegistry()
        # A bounded socket timeout turns a hung Redis into a transient error (and a failed
        # readiness check) instead of a thread stuck forever; a bounded pool makes a caller wait
        # briefly for a connection, then answer 503 / UNAVAILABLE (helpline.redis_client).
        self.redis = connect(settings.redis_url, settings)
        self.auth_redis = connect(settings.auth_redis_url, settings)
        self._api_keys: ApiKeyStore | None = None
        self._tenant_proof: TenantProof | None = None
        self.barrier = ReplicaBarrier(
            self.redis, settings.redis_wait_replicas, settings.redis_wait_timeout_ms
        )
        self.bus_metrics = BusMetrics(self.registry, event_type_label)
        self.outbox_metrics = OutboxMetrics(self.registry)
        self.worker_restarts = Counter(
            "helpline_worker_restarts_total",
            "Background loops started again after a dependency failed under them.",
            ["worker"],
            registry=self.registry,
        )
        # Ready only once the topics exist and every part runs: until then /readyz answers 503.
        self._started = threading.Event()
        self.scrapes = Scrapes()
        self._readiness_checks: dict[str, Check] = {
            "startup": self._started.is_set,
            "redis": redis_check(self.redis),
            "kafka": kafka_check(settings.kafka_bootstrap, kafka_options=settings.kafka_options()),
        }
        # The app the services add their routes to, its probes, metrics and docs (on an app of their
        # own with an operations port) and the servers running them.
        self.http = HttpShell(
            service=settings.service_name,
            registry=self.registry,
            scrapes=self.scrapes,
            readiness_checks=self._readiness_checks,
            docs=settings.api_docs,
            host=settings.http_host,
            port=settings.http_port,
            ops_port=settings.ops_port,
            tls=self.tls,
        )
        self.app = self.http.app
        if settings.redis_wait_replicas:
            self.app.add_middleware(DurableAnswerMiddleware, barrier=self.barrier)
        self._producer: Producer | None = None
        self._workers: list[_Worker] = []
        self._grpc_registrations: list[Callable[[grpc.Server], None]] = []
        self._grpc_services: list[str] = []
        self._grpc_enabled = False
        self._stopping = threading.Event()
        self.grpc_port: int | None = None

    @property
    def http_port(self) -> int | None:
        """The port the API's server bound, once started."""
        return self.http.port

    @property
    def ops_port(self) -> int | None:
        """The port the operations server bound, once started; None without an operations port."""
        return self.http.ops_port

    @property
    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = make_producer(
                self.settings.kafka_bootstrap, self.settings.service_name, **self.settings.kafka_options()
            )
        return self._producer

    @property
    def api_keys(self) -> ApiKeyStore:
        """The API keys, one store for the REST API and the gRPC server, so that a key's rate is
        counted once whichever it calls; made when first asked for (the metrics service has none)."""
        if self._api_keys is None:
            s = self.settings
            if not s.api_key_pepper and s.env != "dev":
                raise MissingPepperError(
                    "HELPLINE_API_KEY_PEPPER is empty: set it to a long random secret (keys made under "
                    "one pepper work only under it), or HELPLINE_ENV=dev on a development machine"
                )
            self._api_keys = ApiKeyStore(
                self.auth_redis,
                pepper=s.api_key_pepper,
                rate=s.api_key_rate(),
                max_per_tenant=s.tenant_max_api_keys,
            )
            # Every service that serves keys relays their audit events, so they reach Kafka while
            # any of them runs; the relay's lease lets one publish at a time.
            self.add_outbox_relay(self._api_keys.outbox_stream, self.auth_redis)
        return self._api_keys

    @property
    def tenant_proof(self) -> TenantProof:
        """The check of the events other systems write (helpline.tenant_proof), against the
        tenants' ingress secrets in the auth Redis; one for all of the service's consumers."""
        if self._tenant_proof is None:
            self._tenant_proof = TenantProof(SecretCache(IngressSecrets(self.auth_redis)), self.registry)
        return self._tenant_proof

    def add_consumer(
        self,
        group: str,
        topics: Sequence[str],
        handler: Handler,
        batch_handler: BatchHandler | None = None,
        *,
        replay_unkept: bool = True,
    ) -> ConsumerLoop:
        """A consumer group's loop; `batch_handler`, when given, takes each poll's records at once
        and `handler` the ones it leaves; `replay_unkept=False` for a handler with effects outside
        Redis (see ConsumerLoop)."""
        loop = ConsumerLoop(
            bootstrap=self.settings.kafka_bootstrap,
            group_id=group,
            topics=topics,
            handler=handler,
            dlq_producer=self.producer,
            retry=RetryPolicy(
                self.settings.consumer_max_retries,
                self.settings.consumer_retry_backoff_ms,
                self.settings.consumer_retry_backoff_max_ms,
            ),
            client_id=self.settings.service_name,
            metrics=self.bus_metrics,
            batch_handler=batch_handler,
            before_commit=self.barrier,
            replay_unkept=replay_unkept,
            **self.settings.kafka_options(),
        )
        self.add_worker(f"consumer:{group}", loop.run, loop.stop)
        return loop

    def add_outbox_relay(self, stream: str, client: redis.Redis | None = None) -> OutboxRelay:
        """Relay an outbox stream of this service's Redis, or of `client` (the auth Redis)."""
        s = self.settings
        barrier = self.barrier
        if client is not None:
            barrier = ReplicaBarrier(client, s.redis_wait_replicas, s.redis_wait_timeout_ms)
        relay = OutboxRelay(
            client or self.redis,
            stream,
            self.producer,
            batch=s.outbox_batch,
            claim_idle_ms=s.outbox_claim_idle_ms,
            dead_letter_maxlen=s.outbox_dead_letter_maxlen,
            metrics=self.outbox_metrics,
            barrier=barrier,
        )
        self.add_worker(f"outbox:{stream}", relay.run, relay.stop)
        return relay

    def add_worker(self, name: str, run: Callable[[], None], stop: Callable[[], None]) -> None:
        """Run a background loop beside the consumers and relays (a scheduler, a poller): `run`
        blocks until `stop` is called from another thread. It starts and stops with them; one that
        fails on a dependency (helpline.failures) is started again after a backoff, and any other
        failure stops the process."""
        self._workers.append(_Worker(name, run, stop))

    def add_readiness_check(self, name: str, check: Check) -> None:
        """Make /readyz answer 503 while `check` returns false or raises (its message is the
        reason): a part of the service that can be full, not only a dependency that can be away."""
        self._readiness_checks[name] = check

    def add_grpc(
        self, service_names: Sequence[str] = (), register: Callable[[grpc.Server], None] | None = None
    ) -> None:
        """Serve gRPC (with the standard health service, and reflection unless HELPLINE_GRPC_REFLECTION
        is false), plus these services if given."""
        self._grpc_enabled = True
        self._grpc_services.extend(service_names)
        if register is not None:
            self._grpc_registrations.append(register)

    def stop(self) -> None:
        self._stopping.set()

    def run(self, *, install_signals: bool = True) -> int:
        """Start everything, block until stopped, then stop in reverse order. Returns an exit code."""
        s = self.settings
        sys.setswitchinterval(SWITCH_INTERVAL_S)
        configure_logging(s.service_name, s.log_level, s.log_format)
        if install_signals:
            self._install_signal_handlers()
        # Serving /healthz and a failing /readyz while Kafka is away: an orchestrator keeps the pod
        # and routes it nothing, instead of restarting it in a loop.
        self.http.start()
        try:
            until_available(
                lambda: ensure_topics(
                    s.kafka_bootstrap, CATALOG, **s.topic_layout(), kafka_options=s.kafka_options()
                ),
                "creating the topics (waiting for Kafka)",
                self._stopping,
            )
        except StoppedError:
            self.http.stop()
            return 0
        grpc_server = health = None
        if self._grpc_enabled:
            grpc_server, self.grpc_port, health = build_grpc_server(
                port=s.grpc_port,
                host=s.http_host,
                max_workers=s.grpc_max_workers,
                max_message_bytes=s.grpc_max_message_bytes,
                services=self._grpc_services,
                auth=self.api_keys,
                register=self._grpc_registrations,
                registry=self.registry,
                barrier=self.barrier,
                reflection_enabled=s.grpc_reflection,
                credentials=self.tls.grpc_credentials() if self.tls is not None else None,
            )
            grpc_server.start()
        failed = threading.Event()
        for worker in self._workers:
            worker.thread = threading.Thread(
                target=self._guard(worker, failed), name=worker.name, daemon=True
            )
            worker.thread.start()
        self._started.set()
        log.info(
            "service started",
            http_port=self.http_port,
            ops_port=self.ops_port,
            grpc_port=self.grpc_port,
            tls=self.tls is not None,
            workers=[w.name for w in self._workers],
        )
        while not self._stopping.wait(0.5):
            if failed.is_set():
                break
        log.info("service stopping")
        if grpc_server is not None and health is not None:
            stop_grpc_server(grpc_server, health)
        for worker in reversed(self._workers):
            worker.stop()
        for worker in reversed(self._workers):
            if worker.thread is not None:
                worker.thread.join(30)
        # Nothing counts any more: one more scrape takes the last counts before the process ends.
        if s.final_scrape_wait_seconds and self.scrapes.any and not failed.is_set():
            log.info("waiting for a last scrape", seconds=s.final_scrape_wait_seconds)
            if not self.scrapes.wait_for_one(s.final_scrape_wait_seconds):
                log.warning("stopping without a last scrape", seconds=s.final_scrape_wait_seconds)
        self.http.stop()
        if self._producer is not None:
            self._producer.close(timeout=10)
        self.redis.close()
        self.auth_redis.close()
        log.info("service stopped")
        return 1 if failed.is_set() else 0

    def _guard(self, worker: _Worker, failed: threading.Event) -> Callable[[], None]:
        def run() -> None:
            restarts = 0
            while not self._stopping.is_set():
                started = time.monotonic()
                try:
                    worker.run()
                    return
                except Exception as exc:
                    if not is_transient(exc):
                        # A bug takes the process down, so the orchestrator restarts it whole
                        # rather than leaving a pod that answers probes but no longer works.
                        log.exception("worker failed", worker=worker.name)
                        failed.set()
                        return
                    # A loop that ran a while before this failure starts again at the first backoff step.
                    restarts = 1 if time.monotonic() - started > WORKER_STABLE_S else restarts + 1
                    self.worker_restarts.labels(worker.name).inc()
                    log.warning(
                        "worker lost a dependency; starting it again",
                        worker=worker.name,
                        restarts=restarts,
                        error=repr(exc),
                    )
                    if self._stopping.wait(WORKER_BACKOFF.delay(restarts)):
                        return

        return run

    def _install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received", signal=signal.Signals(signum).name)
            self.stop()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)
