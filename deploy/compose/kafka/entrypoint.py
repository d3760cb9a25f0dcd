"""The broker of the local Kafka image, configured as the public apache/kafka image configures it:
every KAFKA_<NAME> variable is the property <name> (lower case; `_` is `.`, `__` is `_`, `___` is `-`),
but the JVM's own variables (KAFKA_HEAP_OPTS, KAFKA_OPTS, ...). The data folder (log.dirs) is
formatted for KRaft with CLUSTER_ID on the first start, then the broker replaces this process."""

import os
import subprocess
import sys
from pathlib import Path

CONFIG = Path("/opt/kafka/config/server.properties")
LOG4J = "/opt/kafka/config/log4j2.properties"
CLASSPATH = "/opt/kafka/libs/*"
# Variables of the JVM and the scripts, not broker properties (as in the public image).
NOT_PROPERTIES = {
    "KAFKA_HEAP_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_JMX_OPTS",
    "KAFKA_DEBUG",
    "KAFKA_GC_LOG_OPTS",
}


def property_name(variable: str) -> str:
    name = variable.removeprefix("KAFKA_").lower()
    return name.replace("___", "-").replace("__", "\0").replace("_", ".").replace("\0", "_")


def properties(env: dict[str, str]) -> dict[str, str]:
    return {
        property_name(key): value
        for key, value in sorted(env.items())
        if key.startswith("KAFKA_") and key not in NOT_PROPERTIES
    }


def java(*args: str) -> list[str]:
    heap = os.environ.get("KAFKA_HEAP_OPTS", "").split()
    extra = os.environ.get("KAFKA_OPTS", "").split()
    return [
        "java", *heap, "-XX:+UseG1GC", "-Djava.awt.headless=true", f"-Dlog4j2.configurationFile={LOG4J}",
        *extra, "-cp", CLASSPATH, *args,
    ]  # fmt: skip


def main() -> None:
    props = properties(dict(os.environ))
    if "process.roles" not in props or "node.id" not in props:
        sys.exit("set KAFKA_PROCESS_ROLES and KAFKA_NODE_ID (and the rest of the broker's KAFKA_* settings)")
    CONFIG.write_text("".join(f"{key}={value}\n" for key, value in props.items()))
    data = Path(props.get("log.dirs", props.get("log.dir", "/var/lib/kafka/data")).split(",")[0])
    if not (data / "meta.properties").exists():
        cluster_id = os.environ.get("CLUSTER_ID")
        if not cluster_id:
            sys.exit("set CLUSTER_ID: the id KRaft formats the data folder with on the first start")
        # One argument: a url-safe id may start with "-", which the tool would take for an option.
        command = java(
            "kafka.tools.StorageTool", "format", "--config", str(CONFIG), f"--cluster-id={cluster_id}"
        )
        if subprocess.run(command, check=False).returncode != 0:
            sys.exit(f"formatting {data} for KRaft failed")
    command = java("kafka.Kafka", str(CONFIG))
    os.execvp(command[0], command)  # noqa: S606 (the broker replaces this process, as PID 1)


if __name__ == "__main__":
    main()
