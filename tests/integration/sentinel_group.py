"""A Redis primary, two replicas and three Sentinels of a test's own, as processes on free loopback
ports: the smallest group in which Sentinel fails over (a quorum of two Sentinels agreeing that the
primary is down) and the new primary still has a replica to wait for. Each process is signalled by
its own pid only.

A partition cuts the replicas off the primary while the primary goes on serving its clients: each
replica is given a replication password the primary refuses (`masterauth`) and its link dropped, so
it can neither keep nor resume replicating. (A TCP link in between cannot do it: a Sentinel repoints
every replica at the primary's own address within seconds of starting, `+fix-slave-config`.)"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import redis

from devstack.local_stack import SENTINEL_MASTER_NAME, LocalStack, StackConfig, free_port, port_open
from tests.integration.helpers import wait_until
from tests.integration.private_stack import Signalled

MASTER_NAME = SENTINEL_MASTER_NAME
SENTINELS = 3
QUORUM = 2
REPLICAS = 2
# No password opens the primary: a replica that sends one is refused at every reconnection.
PARTITIONED = "partitioned"


class SentinelGroup(Signalled):
    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.stack = LocalStack(StackConfig(var_dir=directory))
        self.redis_ports = {f"redis-{n}": free_port() for n in range(1 + REPLICAS)}
        self.sentinel_ports = [free_port() for _ in range(SENTINELS)]

    @property
    def sentinels(self) -> str:
        """HELPLINE_REDIS_SENTINELS for the services."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    def up(self, *, sentinels: bool = True) -> None:
        (primary_name, primary), *replicas = self.redis_ports.items()
        self.stack.start(self.stack.redis(primary_name, primary))
        for name, port in replicas:
            self.stack.start(self.stack.redis(name, port, replica_of=primary))
        for _name, port in replicas:
            wait_until(partial(self._linked, port), what="the replicas to sync with the primary")
        if not sentinels:
            return
        for n, port in enumerate(self.sentinel_ports):
            sentinel = self.stack.redis_sentinel(
                f"sentinel-{n}", port, primary_port=primary, master_name=MASTER_NAME, quorum=QUORUM
            )
            self.stack.start(sentinel)
        # A Sentinel learns of the others through the primary's hello channel; a failover needs
        # them to know each other (and the replica) first.
        wait_until(self._acquainted, what="the Sentinels to find each other and the replicas")

    def primary_port(self) -> int:
        """The primary's port, as the first Sentinel names it."""
        port = named_primary(self.sentinel_ports[0])
        assert port is not None, "the first Sentinel names no primary"
        return port

    def primary_url(self, db: int) -> str:
        """The URL of database `db` on the current primary, for a client that does not ask the
        Sentinels (a test's own reads)."""
        return f"redis://127.0.0.1:{self.primary_port()}/{db}"

    def partition_replicas(self) -> None:
        """Cut the replicas off the primary: what it writes from now on never reaches them."""
        primary = self.primary_port()
        for port in self.redis_ports.values():
            if port != primary:
                with redis.Redis(port=port, socket_timeout=2) as replica:
                    replica.config_set("masterauth", PARTITIONED)
                    replica.client_kill_filter(_type="master")

    def kill_primary(self) -> int:
        """SIGKILL the primary, as a machine dying takes it: no shutdown, no last fsync. Its port.
        A partition ends with it, so that the replicas can follow whichever the Sentinels promote."""
        port = self.primary_port()
        self.kill(next(name for name, p in self.redis_ports.items() if p == port))
        # Healed only once the primary is gone: a replica reconnecting sooner would catch up.
        wait_until(lambda: not port_open(port), timeout=10, what="the killed primary to be gone")
        for other in self.redis_ports.values():
            if other != port:
                with redis.Redis(port=other, socket_timeout=2) as replica:
                    replica.config_set("masterauth", "")
        return port

    def wait_for_failover(self, old_port: int, timeout: float = 60) -> int:
        """Until every Sentinel names a new primary, that Redis answers as one and the other replica
        follows it. Its port."""

        def promoted() -> bool:
            named = {named_primary(port) for port in self.sentinel_ports}
            if len(named) != 1 or None in named or old_port in named:
                return False
            new_port = named.pop()
            return new_port is not None and _replication(new_port).get("role") == "master"

        wait_until(promoted, timeout=timeout, what="Sentinel to promote a replica")
        new_port = self.primary_port()
        others = [p for p in self.redis_ports.values() if p not in (old_port, new_port)]
        wait_until(
            lambda: all(self._linked(p, to=new_port) for p in others),
            timeout=timeout,
            what="the other replica to follow the new primary",
        )
        return new_port

    def down(self) -> None:
        self.thaw_all(self.redis_ports)
        self.stack.down()

    def _acquainted(self) -> bool:
        with redis.Redis(port=self.sentinel_ports[0], socket_timeout=2) as client:
            try:
                state = client.sentinel_master(MASTER_NAME)
            except redis.RedisError:
                return False
        return int(state["num-other-sentinels"]) == SENTINELS - 1 and int(state["num-slaves"]) == REPLICAS

    def _linked(self, port: int, to: int | None = None) -> bool:
        info = _replication(port)
        return info.get("master_link_status") == "up" and to in (None, info.get("master_port"))


def named_primary(sentinel_port: int) -> int | None:
    """The primary's port as the Sentinel on `sentinel_port` names it; None if it does not answer."""
    with redis.Redis(port=sentinel_port, socket_timeout=2) as client:
        try:
            _host, port = client.sentinel_get_master_addr_by_name(MASTER_NAME)
        except redis.RedisError:
            return None
    return int(port)


def _replication(port: int) -> dict[str, object]:
    """INFO replication of the Redis on `port`; empty if it does not answer."""
    with redis.Redis(port=port, socket_timeout=2) as client:
        try:
            return dict(client.info("replication"))
        except redis.RedisError:
            return {}
