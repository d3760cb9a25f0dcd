"""The Redis client every service process uses: a bounded pool that makes a caller wait briefly for a
connection instead of failing the process, and timeouts that turn a stalled server into a transient
error (helpline.failures) the caller answers or retries.

redis-py's own default pool raises `MaxConnectionsError` the moment its hundredth connection is
taken, and its default retry repeats a timed-out command ten times: a write the stalled server may
still apply, and a call held for minutes. Here a full pool blocks for `redis_pool_timeout_seconds`
and then raises ConnectionError ("No connection available"), and only a refused or reset connection
is retried, twice, at once: the layers above (the bus, the relay, the APIs' 503) ride out longer
outages with their own backoff.

With Sentinels configured (HELPLINE_REDIS_SENTINELS), the same pool asks them for the current
primary on every new connection. A failover then looks like a short outage to the layers above:
connections to the dead primary fail (ConnectionError), a demoted primary's READONLY reply
disconnects (redis-py's SentinelManagedConnection), and the next connection goes to the primary
the Sentinels name. No process restarts.
"""

from __future__ import annotations

import functools
from typing import Any

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.connection import parse_url
from redis.retry import Retry
from redis.sentinel import Sentinel, SentinelConnectionPool

from helpline.settings import Settings

# Connections idle this long are PINGed before use: one a firewall or a failover dropped is found
# before a command is written to it.
HEALTH_CHECK_INTERVAL_S = 30
CONNECT_TIMEOUT_S = 5.0


class BlockingSentinelConnectionPool(SentinelConnectionPool, redis.BlockingConnectionPool):
    """redis-py's Sentinel pool with the blocking pool's bound: SentinelConnectionPool finds the
    primary, BlockingConnectionPool (next in the MRO) makes a caller wait for a free connection
    instead of failing at once. redis-py ships the two only apart."""


def connect(url: str, settings: Settings) -> redis.Redis:
    """A client of `url` with the process's pool size and timeouts; through the Sentinels when the
    settings name any."""
    options: dict[str, Any] = {
        "max_connections": settings.redis_pool_size(),
        "timeout": settings.redis_pool_timeout_seconds,
        "socket_timeout": settings.redis_socket_timeout_seconds,
        "socket_connect_timeout": min(CONNECT_TIMEOUT_S, settings.redis_socket_timeout_seconds),
        "health_check_interval": HEALTH_CHECK_INTERVAL_S,
        "retry": Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.2), 2, (redis.ConnectionError,)),
    }
    # Only a TLS connection takes a CA: redis-py's plain connection refuses the argument.
    if url.startswith("rediss://") and settings.redis_ca_file:
        options["ssl_ca_certs"] = settings.redis_ca_file
    sentinels = settings.sentinel_addresses()
    if not sentinels:
        return redis.Redis(connection_pool=redis.BlockingConnectionPool.from_url(url, **options))
    target = parse_url(url)  # type: ignore[no-untyped-call]
    # The Sentinels name the host and port; the URL keeps the database, the credentials and TLS.
    for where in ("host", "port", "connection_class"):
        target.pop(where, None)
    pool = BlockingSentinelConnectionPool(  # type: ignore[no-untyped-call]
        settings.redis_master_name,
        _sentinel(
            tuple(sentinels),
            settings.redis_sentinel_password.get_secret_value(),
            settings.redis_socket_timeout_seconds,
        ),
        ssl=url.startswith("rediss://"),
        **target,
        **options,
    )
    return redis.Redis(connection_pool=pool)


@functools.cache
def _sentinel(addresses: tuple[tuple[str, int], ...], password: str, timeout: float) -> Sentinel:
    """One Sentinel client per process, shared by its pools (the service's keyspace and the API keys)."""
    return Sentinel(  # type: ignore[no-untyped-call]
        list(addresses),
        sentinel_kwargs={
            "socket_timeout": timeout,
            "socket_connect_timeout": min(CONNECT_TIMEOUT_S, timeout),
            "password": password or None,
        },
    )
