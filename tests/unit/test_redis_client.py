"""The Redis client a process builds: one bounded, blocking pool, found through Sentinel when the
settings name Sentinels (building it connects to nothing)."""

from __future__ import annotations

import pytest
import redis
from pydantic import ValidationError
from redis.sentinel import SentinelConnectionPool, SentinelManagedConnection, SentinelManagedSSLConnection

from helpline.redis_client import BlockingSentinelConnectionPool, connect
from helpline.settings import load_settings


def test_without_sentinels_the_url_names_the_server() -> None:
    pool = connect("redis://cache.internal:6380/3", load_settings(redis_max_connections=7)).connection_pool
    assert type(pool) is redis.BlockingConnectionPool
    assert pool.max_connections == 7
    assert pool.connection_kwargs.items() >= {"host": "cache.internal", "port": 6380, "db": 3}.items()


def test_with_sentinels_the_url_gives_database_credentials_and_tls_only() -> None:
    settings = load_settings(
        redis_sentinels="10.0.0.1:26379, sentinel-b:26380",
        redis_master_name="helpline-prod",
        redis_sentinel_password="sentinel-secret",
        redis_max_connections=9,
        redis_pool_timeout_seconds=0.5,
    )
    pool = connect("rediss://app:s3cret@ignored.host:1/4", settings).connection_pool
    assert isinstance(pool, BlockingSentinelConnectionPool)
    assert isinstance(pool, redis.BlockingConnectionPool)
    assert pool.service_name == "helpline-prod"
    assert pool.max_connections == 9
    assert pool.timeout == 0.5
    assert pool.connection_class is SentinelManagedSSLConnection
    kwargs = pool.connection_kwargs
    assert kwargs["db"] == 4
    assert (kwargs["username"], kwargs["password"]) == ("app", "s3cret")
    assert "host" not in kwargs
    assert "port" not in kwargs
    sentinels = pool.sentinel_manager.sentinels
    addresses = [
        (s.connection_pool.connection_kwargs["host"], s.connection_pool.connection_kwargs["port"])
        for s in sentinels
    ]
    assert addresses == [("10.0.0.1", 26379), ("sentinel-b", 26380)]
    assert {s.connection_pool.connection_kwargs["password"] for s in sentinels} == {"sentinel-secret"}


def test_one_sentinel_client_serves_every_pool_of_a_process() -> None:
    settings = load_settings(redis_sentinels="127.0.0.1:26379")
    service = connect("redis://x/1", settings).connection_pool
    keys = connect("redis://x/0", settings).connection_pool
    assert isinstance(service, SentinelConnectionPool)
    assert isinstance(keys, SentinelConnectionPool)
    assert service.connection_class is SentinelManagedConnection
    assert service.sentinel_manager is keys.sentinel_manager


@pytest.mark.parametrize("sentinels", ["sentinel-a", "sentinel-a:port", ":26379", "a:70000"])
def test_a_sentinel_address_without_host_and_port_is_refused(sentinels: str) -> None:
    with pytest.raises(ValidationError, match="HELPLINE_REDIS_SENTINELS"):
        load_settings(redis_sentinels=sentinels)
