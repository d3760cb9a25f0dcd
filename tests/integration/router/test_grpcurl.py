"""grpcurl, the tool operators reach for, finds RouterService through reflection and calls it
with an API key, against a real server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import redis

from helpline.auth import ApiKeyStore
from services.router.composition import Router
from tests.integration.router.test_grpc import key_for, serving, setup_center

GRPCURL = Path(__file__).resolve().parents[3] / ".tools" / "bin" / "grpcurl"
SERVICE = "helpline.v1.RouterService"
# With the class of access it admits keys of (helpline.roles), a client can read it too.
STREAM_OFFERS = (
    "rpc StreamOffers ( .helpline.v1.StreamOffersRequest )"
    " returns ( stream .helpline.v1.StreamOffersResponse ) {\n"
    '    option (.helpline.v1.access) = "agent_desk";'
)


def grpcurl(api_key: str, *args: str) -> str:
    # A missing tool is a broken setup, not a reason to skip: the API's "done" depends on it.
    if not GRPCURL.is_file():
        pytest.fail(f"{GRPCURL} is missing: run scripts/install_grpcurl.sh (make deps does)")
    done = subprocess.run(
        [str(GRPCURL), "-plaintext", "-H", f"x-api-key: {api_key}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_grpcurl_lists_describes_and_calls_the_router(
    router: Router, redis_client: redis.Redis, unique: str, tenant: str
) -> None:
    keys = ApiKeyStore(redis_client, pepper=unique)
    setup_center(router, tenant)
    api_key = key_for(keys, tenant).metadata[0][1]
    with serving(router, keys) as served:
        address = f"127.0.0.1:{served.port}"
        assert SERVICE in grpcurl(api_key, address, "list").split()
        assert STREAM_OFFERS in grpcurl(api_key, address, "describe", SERVICE)

        request = json.dumps({"agent_id": "a0", "status": "AGENT_STATUS_AVAILABLE"})
        answer = json.loads(grpcurl(api_key, "-d", request, address, f"{SERVICE}/SetAgentStatus"))
        assert answer == {"agent_id": "a0", "status": "AGENT_STATUS_AVAILABLE", "state": "AGENT_STATE_IDLE"}
        status = json.loads(
            grpcurl(api_key, "-d", '{"queue_id": "sales"}', address, f"{SERVICE}/GetQueueStatus")
        )
        assert (status["queue_id"], status["department"]) == ("sales", "DEPARTMENT_SERVICE")
