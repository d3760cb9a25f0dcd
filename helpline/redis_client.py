"""The Redis client every service process uses: a bounded pool that makes a caller wait briefly for a
connection instead of failing the process, and timeouts that turn a stalled server into a transient
error (helpline.failures) the caller answers or retries.

redis-py's own default pool raises `MaxConnectionsError` the moment its hundredth connection is
taken, and its default retry repeats a timed-out command ten times: a write the stalled server may
still apply, and a call held for minutes. Here a full pool blocks for `redis_pool_timeout_seconds`
and then raises ConnectionError ("No connection available"), and only a refused or reset connection
is retried, twice, at once: the layers above (the bus, the relay, the APIs' 503) ride out longer
outages with their own backoff.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.retry import Retry

from helpline.settings import Settings

# Connections idle this long are PINGed before use: one a firewall or a failover dropped is found
# before a command is written to it.
HEALTH_CHECK_INTERVAL_S = 30
CONNECT_TIMEOUT_S = 5.0


def connect(url: str, settings: Settings) -> redis.Redis:
    """A client of `url` with the process's pool size and timeouts."""
    pool = redis.BlockingConnectionPool.from_url(
        url,
        max_connections=settings.redis_pool_size(),
        timeout=settings.redis_pool_timeout_seconds,
        socket_timeout=settings.redis_socket_timeout_seconds,
        socket_connect_timeout=min(CONNECT_TIMEOUT_S, settings.redis_socket_timeout_seconds),
        health_check_interval=HEALTH_CHECK_INTERVAL_S,
        retry=Retry(ExponentialWithJitterBackoff(base=0.02, cap=0.2), 2, (redis.ConnectionError,)),
    )
    return redis.Redis(connection_pool=pool)
