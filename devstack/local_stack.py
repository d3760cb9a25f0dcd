"""The no-Docker stack: a real Kafka broker (KRaft, from Maven Central jars), Redis and Prometheus
as local processes on loopback, with their data under one var directory.

`helpline up`, `helpline down` and the test fixture all go through `LocalStack`. A stack started
by one process can be stopped by another: each component leaves a pid file in `<var>/run/`.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
import random
import re
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import redis

from helpline.kafka import clients
from helpline.kafka.port import KafkaError
from helpline.logging import get_logger

log = get_logger(__name__)

# devstack lives only in a checkout (never in the wheel or the image), so its parent is the repository.
REPO_ROOT = Path(__file__).resolve().parent.parent
LOCAL_DEPLOY = REPO_ROOT / "deploy" / "local"
# The one user of the local broker's SASL listener: a loopback-only stack for development and tests.
LOCAL_SASL_USER = "helpline"
LOCAL_SASL_PASSWORD = "helpline-local"  # noqa: S105 - a loopback-only development credential
# Broker n of a cluster listens on the first broker's ports plus (n - 1) strides: 9102-9104, 9112-9114.
KAFKA_PORT_STRIDE = 10
# The pid-file names of Kafka processes: `kafka` alone, `kafka-<node id>` in a cluster.
_KAFKA_PROCESS = re.compile(r"kafka(-\d+)?")
# The primary the stack's Sentinels monitor (`helpline up --redis-sentinel`): the services' default
# HELPLINE_REDIS_MASTER_NAME. Two of the three Sentinels agree that it is down before one fails over.
SENTINEL_MASTER_NAME = "helpline"
SENTINEL_QUORUM = 2


class StackError(RuntimeError):
    """A component could not be installed, started or reached; the message says what to do."""


# Ports handed out by this process: each goes to one listener, though it may not be bound yet.
_HANDED_OUT: set[int] = set()
# Below the kernel's ephemeral range (32768 and up by default), from which an outgoing connection
# could take a port between its check here and the bind of whatever it is given: a broker started
# a few seconds later found its port held by a client's connection.
_PORTS = range(20000, 32768)


def free_port() -> int:
    """A loopback port nothing listens on, never handed out before by this process."""
    ports = range(_PORTS.start, min(_PORTS.stop, _ephemeral_range_start()))
    for _ in range(1000 if ports else 0):
        port = random.choice(ports)  # noqa: S311 (a port, not a secret)
        if port in _HANDED_OUT:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _HANDED_OUT.add(port)
        return port
    # A machine whose ephemeral range leaves none of ours: the kernel's pick, as a last resort.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@functools.cache
def _ephemeral_range_start() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return _PORTS.stop


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex((host, port)) == 0


@dataclass
class StackConfig:
    var_dir: Path = REPO_ROOT / "var"
    kafka_port: int = 9092
    controller_port: int = 9093
    sasl_port: int = 9094
    redis_port: int = 6379
    # With `helpline up --redis-sentinel`: the stack's Redis gets these replicas and Sentinels.
    redis_replica_ports: tuple[int, ...] = (6380, 6381)
    sentinel_ports: tuple[int, ...] = (26379, 26380, 26381)
    prometheus_port: int = 9090
    kafka_heap: str = "-Xms512m -Xmx1g"
    redis_appendfsync: str = "everysec"
    prometheus_config: Path | None = None
    # (name, port, advertised port): a plaintext listener whose clients are sent to the advertised
    # port, where a proxy relays to `port` (the chaos tests put Toxiproxy between services and Kafka).
    kafka_relayed_listeners: tuple[tuple[str, int, int], ...] = ()
    # (port, PEM file of a private key and its certificate chain): a SASL_SSL listener on `port`
    # that serves that certificate and asks for LOCAL_SASL_USER's SASL/PLAIN login, for the tests of
    # the clients' TLS settings; a single broker only, its certificate being the test's.
    kafka_sasl_ssl_listener: tuple[int, Path] | None = None
    # Kafka processes, each a broker and a controller: one alone, or a cluster with a static quorum.
    kafka_brokers: int = 1
    # (client, controller, SASL) ports of brokers 2, 3, ... of a cluster; empty: KAFKA_PORT_STRIDE
    # above the previous broker's.
    kafka_other_ports: tuple[tuple[int, int, int], ...] = ()

    port_offset: int = 0

    @classmethod
    def from_env(cls) -> StackConfig:
        """The stack `helpline up` runs: var/ and the standard ports, unless HELPLINE_STACK_DIR and
        HELPLINE_STACK_PORT_OFFSET (added to every port, the services' too) move it, so a second
        stack can run beside the first."""
        offset = int(os.environ.get("HELPLINE_STACK_PORT_OFFSET", "0"))
        defaults = cls()
        return cls(
            var_dir=Path(os.environ.get("HELPLINE_STACK_DIR", defaults.var_dir)),
            kafka_port=defaults.kafka_port + offset,
            controller_port=defaults.controller_port + offset,
            sasl_port=defaults.sasl_port + offset,
            redis_port=defaults.redis_port + offset,
            redis_replica_ports=tuple(port + offset for port in defaults.redis_replica_ports),
            sentinel_ports=tuple(port + offset for port in defaults.sentinel_ports),
            prometheus_port=defaults.prometheus_port + offset,
            port_offset=offset,
        )

    @property
    def kafka_lib(self) -> Path:
        # The jars are shared by every var dir of this checkout: tests and `make up` resolve them once.
        return REPO_ROOT / "var" / "kafka-lib"

    @property
    def log_dir(self) -> Path:
        return self.var_dir / "log"

    @property
    def run_dir(self) -> Path:
        return self.var_dir / "run"

    @property
    def kafka_nodes(self) -> tuple[KafkaNode, ...]:
        """Every Kafka process of the stack, node 1 on `kafka_port`, `controller_port`, `sasl_port`."""
        if self.kafka_brokers < 1:
            raise StackError(f"the stack needs a Kafka broker; kafka_brokers is {self.kafka_brokers}")
        if self.kafka_brokers == 1:
            return (KafkaNode(1, "kafka", self.kafka_port, self.controller_port, self.sasl_port),)
        first = (self.kafka_port, self.controller_port, self.sasl_port)
        others = self.kafka_other_ports or tuple(
            (
                first[0] + n * KAFKA_PORT_STRIDE,
                first[1] + n * KAFKA_PORT_STRIDE,
                first[2] + n * KAFKA_PORT_STRIDE,
            )
            for n in range(1, self.kafka_brokers)
        )
        if len(others) != self.kafka_brokers - 1:
            raise StackError(
                f"{self.kafka_brokers} Kafka brokers need the ports of {self.kafka_brokers - 1} besides "
                f"the first; kafka_other_ports has {len(others)}"
            )
        return tuple(
            KafkaNode(node_id, f"kafka-{node_id}", *ports)
            for node_id, ports in enumerate((first, *others), start=1)
        )

    @property
    def kafka_replication_factor(self) -> int:
        """Replicas of each topic: one on every broker, up to three."""
        return min(self.kafka_brokers, 3)

    @property
    def kafka_min_insync_replicas(self) -> int:
        """Replicas holding a write before it is acknowledged: all but one, so one broker may die."""
        return max(1, self.kafka_replication_factor - 1)

    @property
    def kafka_bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{node.port}" for node in self.kafka_nodes)

    @property
    def kafka_sasl_bootstrap(self) -> str:
        """The listeners that ask for a SASL/PLAIN login as LOCAL_SASL_USER."""
        return ",".join(f"127.0.0.1:{node.sasl_port}" for node in self.kafka_nodes)

    @property
    def redis_url(self) -> str:
        return f"redis://127.0.0.1:{self.redis_port}/0"

    @property
    def redis_servers(self) -> dict[str, int]:
        """The Redis servers of a Sentinel stack by component name: the stack's Redis, then the others."""
        others = {f"redis-{n}": port for n, port in enumerate(self.redis_replica_ports, start=2)}
        return {"redis": self.redis_port} | others

    @property
    def sentinels(self) -> dict[str, int]:
        return {f"sentinel-{n}": port for n, port in enumerate(self.sentinel_ports, start=1)}

    @property
    def redis_sentinels(self) -> str:
        """HELPLINE_REDIS_SENTINELS of a Sentinel stack."""
        return ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)

    @property
    def prometheus_url(self) -> str:
        return f"http://127.0.0.1:{self.prometheus_port}"


@dataclass(frozen=True)
class KafkaNode:
    """One Kafka process of the local stack: a broker and a controller, with its own ports."""

    node_id: int
    # Its component name, which names its pid file, data folder, properties and logs too.
    name: str
    port: int
    controller_port: int
    sasl_port: int


def kafka_properties(cfg: StackConfig, node: KafkaNode, data_dir: Path) -> str:
    """The broker configuration of `node`: deploy/local/kafka.properties with its placeholders filled."""
    nodes = cfg.kafka_nodes
    if len(nodes) == 1:
        quorum = f"controller.quorum.bootstrap.servers=127.0.0.1:{node.controller_port}"
    elif cfg.kafka_relayed_listeners or cfg.kafka_sasl_ssl_listener:
        # Each broker would need its own port, and the tests relay, or serve TLS on, one broker only.
        raise StackError("relayed and SASL_SSL Kafka listeners need a single broker (kafka_brokers=1)")
    else:
        voters = ",".join(f"{n.node_id}@127.0.0.1:{n.controller_port}" for n in nodes)
        quorum = f"controller.quorum.voters={voters}"
    listeners = [
        (name, port, advertised, "PLAINTEXT") for name, port, advertised in cfg.kafka_relayed_listeners
    ]
    tls_config = ""
    if cfg.kafka_sasl_ssl_listener:
        tls_port, keystore = cfg.kafka_sasl_ssl_listener
        listeners.append(("SASL_SSL", tls_port, tls_port, "SASL_SSL"))
        tls_config = (
            "listener.name.sasl_ssl.ssl.keystore.type=PEM\n"
            f"listener.name.sasl_ssl.ssl.keystore.location={keystore}\n"
            "listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain."
            f'PlainLoginModule required user_{LOCAL_SASL_USER}="{LOCAL_SASL_PASSWORD}";\n'
        )
    template = string.Template((LOCAL_DEPLOY / "kafka.properties").read_text())
    return template.substitute(
        node_id=node.node_id,
        quorum=quorum,
        kafka_port=node.port,
        controller_port=node.controller_port,
        sasl_port=node.sasl_port,
        sasl_user=LOCAL_SASL_USER,
        sasl_password=LOCAL_SASL_PASSWORD,
        data_dir=data_dir,
        replicas=cfg.kafka_replication_factor,
        min_insync=cfg.kafka_min_insync_replicas,
        extra_listeners="".join(f",{n}://127.0.0.1:{p}" for n, p, _, _ in listeners),
        extra_advertised="".join(f",{n}://127.0.0.1:{a}" for n, _, a, _ in listeners),
        extra_protocols="".join(f",{n}:{protocol}" for n, _, _, protocol in listeners),
        tls_config=tls_config,
    )


@dataclass
class Component:
    name: str
    argv: list[str]
    ready: Callable[[], bool]
    log_file: Path
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 90.0


def _pom_digest() -> str:
    return hashlib.sha256((LOCAL_DEPLOY / "pom.xml").read_bytes()).hexdigest()


def ensure_kafka_jars(cfg: StackConfig) -> None:
    """Resolve the pinned broker jars with Maven unless this pom's jars are already there."""
    marker = cfg.kafka_lib / ".pom-sha256"
    if marker.exists() and marker.read_text() == _pom_digest():
        return
    if shutil.which("mvn") is None:
        raise StackError("Maven (mvn) is not installed; run `make deps` to install what the stack needs.")
    shutil.rmtree(cfg.kafka_lib, ignore_errors=True)
    cfg.kafka_lib.mkdir(parents=True)
    log.info("resolving Kafka jars from Maven Central", pom=str(LOCAL_DEPLOY / "pom.xml"))
    done = subprocess.run(
        [
            "mvn",
            "-q",
            "-B",
            "-f",
            str(LOCAL_DEPLOY / "pom.xml"),
            "dependency:copy-dependencies",
            f"-Dlib.dir={cfg.kafka_lib}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise StackError(
            f"Maven could not resolve the Kafka jars:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
        )
    marker.write_text(_pom_digest())


def _require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise StackError(f"`{binary}` is not installed; run `make deps` to install what the stack needs.")
    return path


class LocalStack:
    """Starts, checks and stops the local Kafka, Redis and Prometheus processes."""

    def __init__(self, cfg: StackConfig | None = None) -> None:
        self.cfg = cfg or StackConfig()
        for d in (self.cfg.var_dir, self.cfg.log_dir, self.cfg.run_dir):
            d.mkdir(parents=True, exist_ok=True)

    # -- components -------------------------------------------------------------------------

    def kafka(self, node_id: int = 1) -> Component:
        """Kafka node `node_id`: the stack's one broker, or one of its cluster (StackConfig.kafka_brokers).
        Its storage is formatted on first use, with the cluster id the other nodes have, if any."""
        cfg = self.cfg
        ensure_kafka_jars(cfg)
        java = _require("java")
        nodes = {n.node_id: n for n in cfg.kafka_nodes}
        if node_id not in nodes:
            raise StackError(f"no Kafka node {node_id}: the stack has nodes {sorted(nodes)}")
        node = nodes[node_id]
        data_dir = self._kafka_data_dir(node)
        props = cfg.var_dir / f"{node.name}.properties"
        props.write_text(kafka_properties(cfg, node, data_dir))
        classpath = f"{cfg.kafka_lib}/*"
        if not (data_dir / "meta.properties").exists():
            # Alone, the node is its own quorum's first voter; a static quorum is named in the config.
            standalone = ["--standalone"] if cfg.kafka_brokers == 1 else []
            done = subprocess.run(
                [
                    java,
                    "-cp",
                    classpath,
                    "kafka.tools.StorageTool",
                    "format",
                    "--config",
                    str(props),
                    # One argument: a url-safe id may start with "-", which argparse takes for an option.
                    f"--cluster-id={self._kafka_cluster_id()}",
                    *standalone,
                ],
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode != 0:
                raise StackError(f"formatting Kafka storage failed:\n{done.stdout}{done.stderr}")
        kafka_logs = cfg.log_dir / node.name
        kafka_logs.mkdir(exist_ok=True)
        return Component(
            name=node.name,
            argv=[
                java,
                *cfg.kafka_heap.split(),
                "-XX:+UseG1GC",
                "-Djava.awt.headless=true",
                f"-Dlog4j2.configurationFile={LOCAL_DEPLOY / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={kafka_logs}",
                "-cp",
                classpath,
                "kafka.Kafka",
                str(props),
            ],
            ready=functools.partial(self.kafka_node_ready, node),
            log_file=cfg.log_dir / f"{node.name}.out",
        )

    def kafka_components(self) -> list[Component]:
        """Every Kafka node of the stack, to start together: a cluster's nodes need each other's votes."""
        return [self.kafka(node.node_id) for node in self.cfg.kafka_nodes]

    def _kafka_data_dir(self, node: KafkaNode) -> Path:
        return self.cfg.var_dir / f"{node.name}-data"

    def _kafka_cluster_id(self) -> str:
        """The id a node's storage is formatted with: the one another node of the cluster already
        has, else a new one."""
        for node in self.cfg.kafka_nodes:
            meta = self._kafka_data_dir(node) / "meta.properties"
            if meta.exists():
                for line in meta.read_text().splitlines():
                    key, _, value = line.partition("=")
                    if key.strip() == "cluster.id":
                        return value.strip()
        return base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()

    def redis(
        self, name: str = "redis", port: int | None = None, *, replica_of: int | None = None
    ) -> Component:
        """The stack's Redis; another `name` and `port` make one more (a replica of the Redis on
        port `replica_of`, for a Sentinel group), with its own data directory."""
        cfg = self.cfg
        port = port or cfg.redis_port
        data_dir = cfg.var_dir / f"{name}-data"
        data_dir.mkdir(exist_ok=True)
        replication = ["--replicaof", "127.0.0.1", str(replica_of)] if replica_of else []
        return Component(
            name=name,
            argv=[
                _require("redis-server"),
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--protected-mode",
                "yes",
                "--dir",
                str(data_dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                cfg.redis_appendfsync,
                "--save",
                "",
                "--daemonize",
                "no",
                "--logfile",
                "",
                *replication,
            ],
            ready=functools.partial(redis_answers, port),
            log_file=cfg.log_dir / f"{name}.log",
            start_timeout=20.0,
        )

    def redis_sentinel(
        self, name: str, port: int, *, primary_port: int, master_name: str, quorum: int
    ) -> Component:
        """A Redis Sentinel watching the primary on `primary_port` (redis-server in Sentinel mode, the
        program Debian's redis-sentinel runs). It fails over one second after the primary stops
        answering, so a test sees a failover within seconds; production keeps Redis's defaults."""
        conf = self.cfg.var_dir / f"{name}.conf"
        # Sentinel rewrites its configuration file as the group changes, so each has its own.
        conf.write_text(
            f"port {port}\n"
            "bind 127.0.0.1\n"
            "daemonize no\n"
            f"dir {self.cfg.var_dir}\n"
            f"sentinel monitor {master_name} 127.0.0.1 {primary_port} {quorum}\n"
            f"sentinel down-after-milliseconds {master_name} 1000\n"
            f"sentinel failover-timeout {master_name} 5000\n"
            f"sentinel parallel-syncs {master_name} 1\n"
        )
        return Component(
            name=name,
            argv=[_require("redis-server"), str(conf), "--sentinel"],
            ready=functools.partial(redis_answers, port),
            log_file=self.cfg.log_dir / f"{name}.log",
            start_timeout=20.0,
        )

    def redis_sentinel_group(self) -> list[Component]:
        """The stack's Redis servers, the primary first and the others its replicas, then the
        Sentinels watching them (`helpline up --redis-sentinel`). The primary is the one the
        Sentinels named last: after a failover, a former replica. Started the other way round, the
        old primary would hand its older data to the others and the writes made since the failover
        would be lost."""
        primary = self.sentinel_primary()
        servers = sorted(self.cfg.redis_servers.items(), key=lambda server: server[1] != primary)
        return [
            *(
                self.redis(name, port, replica_of=None if port == primary else primary)
                for name, port in servers
            ),
            *(
                self.redis_sentinel(
                    name, port, primary_port=primary, master_name=SENTINEL_MASTER_NAME, quorum=SENTINEL_QUORUM
                )
                for name, port in self.cfg.sentinels.items()
            ),
        ]

    def sentinel_primary(self) -> int:
        """The port of the primary in the first Sentinel's configuration, which Sentinel rewrites on
        every failover; the stack's Redis before the first start."""
        first = next(iter(self.cfg.sentinels))
        try:
            lines = (self.cfg.var_dir / f"{first}.conf").read_text().splitlines()
        except FileNotFoundError:
            return self.cfg.redis_port
        for line in lines:
            words = line.split()
            # sentinel monitor <master name> <host> <port> <quorum>
            if words[:3] == ["sentinel", "monitor", SENTINEL_MASTER_NAME] and len(words) == 6:
                port = int(words[4])
                if port in self.cfg.redis_servers.values():
                    return port
        return self.cfg.redis_port

    def prometheus(self) -> Component:
        cfg = self.cfg
        if cfg.prometheus_config is None:
            raise StackError("Prometheus needs a configuration file (StackConfig.prometheus_config).")
        data_dir = cfg.var_dir / "prometheus-data"
        return Component(
            name="prometheus",
            argv=[
                _require("prometheus"),
                f"--config.file={cfg.prometheus_config}",
                f"--storage.tsdb.path={data_dir}",
                f"--web.listen-address=127.0.0.1:{cfg.prometheus_port}",
                "--web.enable-lifecycle",
            ],
            ready=lambda: port_open(cfg.prometheus_port),
            log_file=cfg.log_dir / "prometheus.log",
        )

    def service(self, name: str, env: dict[str, str], http_port: int) -> Component:
        """A Helpline service as a background process; ready when its /readyz answers 200."""
        return Component(
            name=name,
            argv=[sys.executable, "-m", "helpline.cli", "run", name],
            ready=lambda: _http_ok(f"http://127.0.0.1:{http_port}/readyz"),
            log_file=self.cfg.log_dir / f"{name}.log",
            env=env,
            start_timeout=60.0,
        )

    # -- readiness ----------------------------------------------------------------------------

    def kafka_node_ready(self, node: KafkaNode) -> bool:
        """The node answers, and its metadata lists every broker of the stack unfenced: the
        controller quorum has a leader and every broker registered with it."""
        if not port_open(node.port):
            return False
        admin = clients.admin(f"127.0.0.1:{node.port}", "helpline-stack-probe")
        try:
            return admin.brokers() == self.cfg.kafka_brokers
        except KafkaError:
            return False
        finally:
            admin.close()

    # -- process control ----------------------------------------------------------------------

    def _pid_file(self, name: str) -> Path:
        return self.cfg.run_dir / f"{name}.pid"

    def running_pid(self, name: str) -> int | None:
        pid_file = self._pid_file(name)
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip() or 0)
        # Init's pid in a stale or hand-made file would take every process down with a stop.
        if pid <= 1 or not _alive(pid):
            pid_file.unlink(missing_ok=True)
            return None
        return pid

    def start(self, component: Component) -> int:
        """Start a component (or adopt the one already running) and wait until it really answers."""
        (pid,) = self.start_together([component])
        return pid

    def start_together(self, components: Sequence[Component]) -> list[int]:
        """Start components that answer only once all of them run (a Kafka cluster's nodes wait for
        a quorum of controllers): each is launched, or adopted when it runs and answers, before any
        is waited for."""
        started: list[int | subprocess.Popen[bytes]] = []
        for component in components:
            pid = self.running_pid(component.name)
            if pid is not None and component.ready():
                log.info("already running", component=component.name, pid=pid)
                started.append(pid)
            else:
                started.append(self._launch(component))
        return [
            proc if isinstance(proc, int) else self._await_ready(component, proc)
            for component, proc in zip(components, started, strict=True)
        ]

    def _launch(self, component: Component) -> subprocess.Popen[bytes]:
        component.log_file.parent.mkdir(parents=True, exist_ok=True)
        with component.log_file.open("ab") as out:
            proc = subprocess.Popen(
                component.argv,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env={**os.environ, **component.env},
            )
        self._pid_file(component.name).write_text(str(proc.pid))
        return proc

    def _await_ready(self, component: Component, proc: subprocess.Popen[bytes]) -> int:
        deadline = time.monotonic() + component.start_timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                self._pid_file(component.name).unlink(missing_ok=True)
                raise StackError(
                    f"{component.name} exited with {proc.returncode} while starting; "
                    f"see {component.log_file}:\n{_tail(component.log_file)}"
                )
            if component.ready():
                log.info("started", component=component.name, pid=proc.pid, log=str(component.log_file))
                return proc.pid
            time.sleep(0.5)
        self.stop(component.name)
        raise StackError(
            f"{component.name} did not become ready within {component.start_timeout:.0f} s; "
            f"see {component.log_file}:\n{_tail(component.log_file)}"
        )

    def stop(self, name: str, timeout: float = 30.0) -> bool:
        """SIGTERM the component's process group, SIGKILL it after `timeout`. True if one was running."""
        return bool(self.stop_together([name], timeout))

    def stop_together(self, names: Sequence[str], timeout: float = 30.0) -> list[str]:
        """Stop components at once (a cluster's Kafka nodes: the last one stopped alone would wait
        for a quorum that is gone); returns those that were running."""
        running = {name: pid for name in names if (pid := self.running_pid(name)) is not None}
        for pid in running.values():
            _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while any(_alive(pid) for pid in running.values()) and time.monotonic() < deadline:
            time.sleep(0.2)
        for name, pid in running.items():
            if _alive(pid):
                log.warning("did not stop in time, killing", component=name, pid=pid)
                _signal_group(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.1)
            self._pid_file(name).unlink(missing_ok=True)
            log.info("stopped", component=name, pid=pid)
        return list(running)

    def up(self, *, prometheus: bool = False, redis_sentinel: bool = False) -> None:
        for redis_component in self.redis_sentinel_group() if redis_sentinel else [self.redis()]:
            self.start(redis_component)
        self.start_together(self.kafka_components())
        if prometheus:
            self.start(self.prometheus())

    def down(self) -> None:
        # Reverse order of start; an unknown name in run/ (a service) is stopped first. Kafka's
        # processes are found by their names, so a cluster stops whatever brokers this config has.
        # The Sentinels go before the Redis servers, so that none fails over while they stop.
        running = sorted(pid_file.stem for pid_file in self.cfg.run_dir.glob("*.pid"))
        kafka = [name for name in running if _KAFKA_PROCESS.fullmatch(name)]
        redis = [*self.cfg.sentinels, *reversed(self.cfg.redis_servers)]
        for name in reversed(running):
            if name not in kafka and name not in redis and name != "prometheus":
                self.stop(name)
        self.stop("prometheus")
        self.stop_together(kafka)
        for name in redis:
            self.stop(name)


def redis_answers(port: int) -> bool:
    """True when the Redis (or Sentinel) on the loopback `port` answers PING."""
    client = redis.Redis(port=port, socket_timeout=1)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def _alive(pid: int) -> bool:
    try:
        waited, _status = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie whose parent is another process still answers kill(0); /proc tells.
    try:
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 -- a loopback URL we built
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
