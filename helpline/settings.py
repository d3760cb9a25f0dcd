"""Configuration for every Helpline process, read from `HELPLINE_*` environment variables.

Settings are built by `load_settings()` when a process starts, never at import time, so tests
build their own without sharing global state.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every field maps to `HELPLINE_<FIELD>`; the README's configuration table lists them."""

    model_config = SettingsConfigDict(env_prefix="HELPLINE_", env_file=None, extra="ignore")

    service_name: str = Field("helpline", description="Name in logs, metrics and the CloudEvents source.")
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers, comma separated.")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL of this service's keyspace.")
    auth_redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis URL of the API keys shared by every service."
    )
    http_host: str = Field("127.0.0.1", description="Address of the HTTP server (health, metrics, REST).")
    http_port: int = Field(8080, ge=0, le=65535, description="Port of the HTTP server; 0 picks a free one.")
    grpc_port: int = Field(0, ge=0, le=65535, description="Port of the gRPC server; 0 picks a free one.")
    grpc_max_workers: int = Field(
        16,
        ge=1,
        description="gRPC calls served at once; each open server stream (an agent desktop) holds one.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Lowest log level.")
    log_format: Literal["json", "console"] = Field("json", description="JSON lines, or coloured console.")
    topic_partitions: int = Field(
        0, ge=0, description="Partitions for every topic created at start; 0 keeps each topic's own."
    )
    consumer_max_retries: int = Field(
        3, ge=0, description="Retries of a failing message before it goes to `<topic>.dlq`."
    )
    consumer_retry_backoff_ms: int = Field(200, ge=0, description="First retry delay; doubles each retry.")
    outbox_batch: int = Field(100, ge=1, description="Outbox entries the relay publishes per round.")
    outbox_claim_idle_ms: int = Field(
        30_000, ge=1000, description="An outbox entry pending this long is taken over from a dead relay."
    )
    api_key_pepper: str = Field(
        "", description="Secret mixed into API-key hashes; set it in production (a Secret in Kubernetes)."
    )


def load_settings(**overrides: object) -> Settings:
    """Read the environment, with explicit overrides taking precedence (used by tests and the CLI)."""
    return Settings(**overrides)  # type: ignore[arg-type]
