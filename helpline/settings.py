"""Configuration for every Helpline process, read from `HELPLINE_*` environment variables.

Settings are built by `load_settings()` when a process starts, never at import time, so tests
build their own without sharing global state.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from helpline.auth import KeyRate

# Threads of a process that may each hold a Redis connection at once, besides its gRPC workers:
# the HTTP server's worker threads (anyio's default limit) and the background loops (consumers,
# relays, timers, readiness checks), with room to spare.
HTTP_THREADS = 40
BACKGROUND_THREADS = 24


class TopicLayout(TypedDict):
    """The layout arguments of helpline.topic_admin.ensure_topics."""

    partitions: int
    replication_factor: int
    min_insync_replicas: int


class Settings(BaseSettings):
    """Every field maps to `HELPLINE_<FIELD>`; the README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", env_file=None, extra="ignore")

    service_name: str = Field("helpline", description="Name in logs, metrics and the CloudEvents source.")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    kafka_client: Literal["confluent", "kafka-python"] = Field(
        "confluent",
        description="The Kafka client library every client of the process runs on: librdkafka "
        "(confluent) or kafka-python.",
    )
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How the Kafka clients connect: plain, TLS, SASL, or SASL over TLS."
    )
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = Field(
        "PLAIN", description="SASL mechanism, with a SASL security protocol."
    )
    kafka_sasl_username: str = Field("", description="SASL user name, with a SASL security protocol.")
    kafka_sasl_password: SecretStr = Field(
        SecretStr(""), description="SASL password (a Secret in Kubernetes), with a SASL security protocol."
    )
    kafka_ssl_cafile: str = Field(
        "",
        description="CA bundle that signed the brokers' certificates, with TLS; empty trusts the system's.",
    )
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL of this service's keyspace.")
    auth_redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL of the API keys and ingress secrets shared by every service.",
    )
    redis_ca_file: str = Field(
        "",
        description="CA bundle that signed the Redis servers' certificates, with `rediss://` URLs; empty "
        "trusts the system's.",
    )
    redis_sentinels: str = Field(
        "",
        max_length=2000,
        description="Redis Sentinel addresses (host:port, comma separated) to find the primary by; "
        "empty connects to the URLs' host. With Sentinels, the URLs give only database, password and TLS.",
    )
    redis_master_name: str = Field(
        "helpline",
        min_length=1,
        max_length=200,
        description="Name of the primary the Sentinels monitor, with HELPLINE_REDIS_SENTINELS.",
    )
    redis_sentinel_password: SecretStr = Field(
        SecretStr(""), description="Password of the Sentinels themselves (their `requirepass`), if any."
    )
    redis_wait_replicas: int = Field(
        0,
        ge=0,
        le=5,
        description="Redis replicas that must hold a write before it is acknowledged (a 2xx, a gRPC "
        "OK, a committed offset, a published event), so a failover cannot lose it; 0 acknowledges "
        "at once.",
    )
    redis_wait_timeout_ms: int = Field(
        1000,
        ge=10,
        le=10_000,
        description="How long a write waits for those replicas before it answers 503 / UNAVAILABLE "
        "(and an offset or an event waits a round).",
    )
    http_host: str = Field(
        "127.0.0.1",
        description="Address of the HTTP, operations and gRPC servers (`0.0.0.0` in a container).",
    )
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server; 0 picks a free one.")
    grpc_port: int = Field(0, ge=0, le=65535, description="Port of the gRPC server; 0 picks a free one.")
    ops_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Port of a second, plaintext HTTP server for the operations endpoints (/readyz, "
        "/metrics and the API docs); the HTTP port then serves only the API and /healthz. Unset: "
        "they share the HTTP port; 0 picks a free one.",
    )
    api_docs: bool = Field(
        True,
        description="Serve the API's /docs, /redoc and /openapi.json (on the operations port when there "
        "is one); false serves none of them.",
    )
    grpc_reflection: bool = Field(
        True, description="Serve gRPC reflection; the gRPC health service is served either way."
    )
    tls_cert_file: str = Field(
        "",
        description="PEM certificate chain of the HTTP and gRPC servers; with HELPLINE_TLS_KEY_FILE they "
        "serve TLS only. Empty: plaintext.",
    )
    tls_key_file: str = Field(
        "", description="PEM private key of HELPLINE_TLS_CERT_FILE (a Secret in Kubernetes)."
    )
    tls_client_ca_file: str = Field(
        "",
        description="CA bundle that must have signed the certificate every HTTP and gRPC client shows "
        "(mutual TLS), with HELPLINE_TLS_CERT_FILE; empty asks clients for none.",
    )
    grpc_max_workers: int = Field(
        16,
        ge=1,
        description="gRPC calls served at once; each open server stream (an agent desktop) holds one.",
    )
    grpc_max_message_bytes: int = Field(
        1_048_576,
        ge=65_536,
        le=16_777_216,
        description="Largest gRPC request a server takes; a larger one gets RESOURCE_EXHAUSTED.",
    )
    redis_max_connections: int = Field(
        0,
        ge=0,
        description="Connections each Redis pool of a process may open; 0 sizes it to the process's "
        "threads (gRPC workers + 40 HTTP + 24 background).",
    )
    redis_pool_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=60,
        description="How long a call waits for a free pooled Redis connection before it answers "
        "503 / UNAVAILABLE.",
    )
    redis_socket_timeout_seconds: float = Field(
        5.0,
        ge=2,
        le=300,
        description="A Redis reply slower than this fails the call as transient (503, a retry).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest log level.")
    log_format: Literal["json", "console"] = Field("json", description="JSON lines, or coloured console.")
    topic_partitions: int = Field(
        0, ge=0, description="Partitions for every topic created at start; 0 keeps each topic's own."
    )
    topic_replication_factor: int = Field(
        -1,
        ge=-1,
        le=16,
        description="Replicas of every topic created at start (3 in production); -1 takes the broker's "
        "`default.replication.factor`.",
    )
    topic_min_insync_replicas: int = Field(
        0,
        ge=0,
        le=15,
        description="`min.insync.replicas` of every topic created at start (2 of 3 in production): a "
        "write is acknowledged once that many replicas hold it; 0 takes the broker's default.",
    )
    consumer_max_retries: int = Field(
        3,
        ge=0,
        description="Retries of a message failing unexpectedly before it goes to `<topic>.dlq`; "
        "a dependency outage is retried for as long as it lasts.",
    )
    consumer_retry_backoff_ms: int = Field(200, ge=0, description="First retry delay; doubles each retry.")
    consumer_retry_backoff_max_ms: int = Field(
        5_000, ge=1, description="Longest wait between retries of a failing message."
    )
    outbox_batch: int = Field(100, ge=1, description="Outbox entries the relay publishes per round.")
    outbox_claim_idle_ms: int = Field(
        30_000, ge=1000, description="An outbox entry pending this long is taken over from a dead relay."
    )
    outbox_dead_letter_maxlen: int = Field(
        10_000,
        ge=100,
        description="Entries Kafka refused for good kept per `<stream>:dead` (the oldest go first).",
    )
    final_scrape_wait_seconds: float = Field(
        0,
        ge=0,
        le=120,
        description="On SIGTERM, once its work has stopped, how long a process Prometheus scrapes waits "
        "for one more scrape, so that the counts it made last are not lost with it; 0 does not wait. "
        "Set it to the scrape interval, within the pod's termination grace period.",
    )
    api_key_pepper: str = Field(
        "",
        description="Secret mixed into API-key hashes (a Secret in Kubernetes). A service with an API "
        "refuses to start without one, unless `HELPLINE_ENV=dev`.",
    )
    env: Literal["production", "dev"] = Field(
        "production",
        description="`dev` on a development machine (`make up` sets it): the services start without an "
        "API-key pepper. Anything else is production.",
    )
    api_key_rate_per_second: float = Field(
        1000,
        gt=0,
        description="Calls a second one API key may make, on average, to all the services together; past "
        "it, 429 with Retry-After or RESOURCE_EXHAUSTED.",
    )
    tenant_max_api_keys: int = Field(
        1000, ge=1, description="API keys one tenant may hold (expired ones aside)."
    )
    api_key_rate_burst: int = Field(
        2000, ge=1, description="Calls one API key may make at once, above its rate, before it is held to it."
    )

    def api_key_rate(self) -> KeyRate:
        return KeyRate(self.api_key_rate_per_second, self.api_key_rate_burst)

    @model_validator(mode="after")
    def _sasl_has_a_user(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not self.kafka_sasl_username:
            protocol = self.kafka_security_protocol
            raise ValueError(
                f"HELPLINE_KAFKA_SECURITY_PROTOCOL={protocol} needs a HELPLINE_KAFKA_SASL_USERNAME"
            )
        return self

    @model_validator(mode="after")
    def _tls_has_both_files(self) -> Settings:
        if bool(self.tls_cert_file) != bool(self.tls_key_file):
            raise ValueError(
                "HELPLINE_TLS_CERT_FILE and HELPLINE_TLS_KEY_FILE go together: set both for TLS, or neither"
            )
        if self.tls_client_ca_file and not self.tls_cert_file:
            raise ValueError(
                "HELPLINE_TLS_CLIENT_CA_FILE needs TLS: set HELPLINE_TLS_CERT_FILE and _KEY_FILE"
            )
        return self

    @model_validator(mode="after")
    def _in_sync_within_the_replicas(self) -> Settings:
        if 0 < self.topic_replication_factor < self.topic_min_insync_replicas:
            raise ValueError(
                "HELPLINE_TOPIC_MIN_INSYNC_REPLICAS must not exceed HELPLINE_TOPIC_REPLICATION_FACTOR: "
                "no write could ever be acknowledged"
            )
        return self

    @model_validator(mode="after")
    def _sentinels_are_host_port(self) -> Settings:
        self.sentinel_addresses()
        return self

    @model_validator(mode="after")
    def _replica_wait_within_the_socket_timeout(self) -> Settings:
        if self.redis_wait_timeout_ms >= self.redis_socket_timeout_seconds * 1000:
            raise ValueError(
                "HELPLINE_REDIS_WAIT_TIMEOUT_MS must be shorter than HELPLINE_REDIS_SOCKET_TIMEOUT_SECONDS"
            )
        return self

    def sentinel_addresses(self) -> list[tuple[str, int]]:
        """HELPLINE_REDIS_SENTINELS as (host, port) pairs; empty without Sentinels."""
        addresses = []
        for item in filter(None, (part.strip() for part in self.redis_sentinels.split(","))):
            host, _, port = item.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"HELPLINE_REDIS_SENTINELS: {item!r} is not host:port")
            addresses.append((host.strip("[]"), int(port)))
        return addresses

    def redis_pool_size(self) -> int:
        """The connections a Redis pool may open: enough for every thread that may use it at once,
        so a full pool means a stuck dependency, not a busy process."""
        return self.redis_max_connections or self.grpc_max_workers + HTTP_THREADS + BACKGROUND_THREADS

    def topic_layout(self) -> TopicLayout:
        """The keyword arguments of helpline.topic_admin.ensure_topics these settings give."""
        return {
            "partitions": self.topic_partitions,
            "replication_factor": self.topic_replication_factor,
            "min_insync_replicas": self.topic_min_insync_replicas,
        }

    def kafka_options(self) -> dict[str, Any]:
        """The options every Kafka client of the process takes: which backend runs it
        (helpline.kafka.clients), and the connection's, under kafka-python's names."""
        options: dict[str, Any] = {
            "client": self.kafka_client,
            "security_protocol": self.kafka_security_protocol,
        }
        if self.kafka_security_protocol.startswith("SASL_"):
            options |= {
                "sasl_mechanism": self.kafka_sasl_mechanism,
                "sasl_plain_username": self.kafka_sasl_username,
                "sasl_plain_password": self.kafka_sasl_password.get_secret_value(),
            }
        if self.kafka_security_protocol.endswith("SSL") and self.kafka_ssl_cafile:
            options["ssl_cafile"] = self.kafka_ssl_cafile
        return options


def load_settings(**overrides: object) -> Settings:
    """Read the environment, with explicit overrides taking precedence (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
