"""`helpline up --redis-sentinel` without starting anything: which Redis servers and Sentinels the
local stack would run, on which ports, in which order, and how the services are told to find them."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.cli import _service_env
from devstack.local_stack import SENTINEL_MASTER_NAME, LocalStack, StackConfig
from helpline.settings import load_settings


@pytest.fixture(autouse=True)
def _no_binaries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Only the command lines are looked at: redis-server need not be installed.
    monkeypatch.setattr("devstack.local_stack._require", lambda binary: binary)


def _replica_of(argv: list[str]) -> int | None:
    return int(argv[argv.index("--replicaof") + 2]) if "--replicaof" in argv else None


def test_the_port_offset_moves_the_replicas_and_the_sentinels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPLINE_STACK_PORT_OFFSET", "1000")
    cfg = StackConfig.from_env()
    assert cfg.redis_servers == {"redis": 7379, "redis-2": 7380, "redis-3": 7381}
    assert cfg.sentinels == {"sentinel-1": 27379, "sentinel-2": 27380, "sentinel-3": 27381}
    assert cfg.redis_sentinels == "127.0.0.1:27379,127.0.0.1:27380,127.0.0.1:27381"


def test_a_first_start_makes_the_stacks_redis_the_primary(tmp_path: Path) -> None:
    stack = LocalStack(StackConfig(var_dir=tmp_path))
    components = stack.redis_sentinel_group()
    assert [c.name for c in components] == [
        "redis",
        "redis-2",
        "redis-3",
        "sentinel-1",
        "sentinel-2",
        "sentinel-3",
    ]
    assert [_replica_of(c.argv) for c in components[:3]] == [None, 6379, 6379]
    for name in ("sentinel-1", "sentinel-2", "sentinel-3"):
        conf = (tmp_path / f"{name}.conf").read_text()
        assert f"sentinel monitor {SENTINEL_MASTER_NAME} 127.0.0.1 6379 2\n" in conf


def test_after_a_failover_the_promoted_replica_starts_as_the_primary(tmp_path: Path) -> None:
    # What Sentinel leaves in its configuration once it promoted the Redis on 6380.
    (tmp_path / "sentinel-1.conf").write_text(
        "port 26379\nsentinel myid 0123\nsentinel monitor helpline 127.0.0.1 6380 2\n"
        "sentinel known-replica helpline 127.0.0.1 6379\n"
    )
    stack = LocalStack(StackConfig(var_dir=tmp_path))
    assert stack.sentinel_primary() == 6380
    components = stack.redis_sentinel_group()
    servers = {c.name: _replica_of(c.argv) for c in components[:3]}
    assert components[0].name == "redis-2"
    assert servers == {"redis-2": None, "redis": 6380, "redis-3": 6380}
    assert "sentinel monitor helpline 127.0.0.1 6380 2\n" in (tmp_path / "sentinel-2.conf").read_text()


def test_a_primary_outside_the_stack_is_not_taken(tmp_path: Path) -> None:
    (tmp_path / "sentinel-1.conf").write_text("sentinel monitor helpline 127.0.0.1 7000 2\n")
    assert LocalStack(StackConfig(var_dir=tmp_path)).sentinel_primary() == 6379


def test_down_stops_the_services_then_the_sentinels_then_the_redis_servers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stack = LocalStack(StackConfig(var_dir=tmp_path))
    for name in ("redis", "redis-2", "redis-3", "sentinel-1", "sentinel-2", "sentinel-3", "kafka", "tickets"):
        (stack.cfg.run_dir / f"{name}.pid").write_text("1")
    stopped: list[str] = []

    def stop(name: str) -> bool:
        stopped.append(name)
        return True

    def stop_together(names: list[str]) -> list[str]:
        stopped.extend(names)
        return names

    # The pid files hold init's pid: nothing here may signal for real.
    monkeypatch.setattr(stack, "stop", stop)
    monkeypatch.setattr(stack, "stop_together", stop_together)
    stack.down()
    assert stopped.index("tickets") < stopped.index("sentinel-1")
    assert max(stopped.index(f"sentinel-{n}") for n in (1, 2, 3)) < min(
        stopped.index(name) for name in ("redis", "redis-2", "redis-3")
    )


def test_the_services_find_the_primary_through_the_sentinels(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = StackConfig()
    env = _service_env(cfg, "tickets", redis_sentinel=True)
    assert env["HELPLINE_REDIS_URL"].endswith("/2")
    assert env["HELPLINE_AUTH_REDIS_URL"].endswith("/0")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.sentinel_addresses() == [("127.0.0.1", 26379), ("127.0.0.1", 26380), ("127.0.0.1", 26381)]
    assert settings.redis_master_name == SENTINEL_MASTER_NAME
    assert settings.redis_wait_replicas == 1


def test_without_sentinels_the_services_connect_to_the_stacks_redis() -> None:
    env = _service_env(StackConfig(), "tickets")
    assert env["HELPLINE_REDIS_URL"] == "redis://127.0.0.1:6379/2"
    assert not {"HELPLINE_REDIS_SENTINELS", "HELPLINE_REDIS_WAIT_REPLICAS"} & set(env)
