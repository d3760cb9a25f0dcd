"""Injects a fault into the running platform and heals it: signals to a service's or a dependency's
own pid, toxics on a service's proxy. Nothing else is touched."""

from __future__ import annotations

import os
import signal

from tests.chaos.faults import SERVICES, Fault
from tests.chaos.stack import ChaosStack
from tests.e2e.platform import Platform

# The Toxiproxy toxic of each network fault, and its attributes.
TOXICS: dict[str, tuple[str, dict[str, int]]] = {
    # A second each way, give or take half a second.
    "latency": ("latency", {"latency": 1000, "jitter": 500}),
    # No byte passes, and the connection stays open: a peer gone silent.
    "stall": ("timeout", {"timeout": 0}),
    # Every connection, old or new, reset by the peer as data flows.
    "reset": ("reset_peer", {"timeout": 0}),
}


class Injector:
    def __init__(self, platform: Platform, stack: ChaosStack) -> None:
        self.platform = platform
        self.stack = stack

    def inject(self, fault: Fault) -> None:
        if fault.kind in TOXICS:
            kind, attributes = TOXICS[fault.kind]
            self.stack.toxiproxy.add_toxic(fault.target, kind, **attributes)
        elif fault.process in SERVICES:
            service = self.platform.services[fault.process]
            if fault.kind == "kill":
                service.kill()
            elif fault.kind == "stop":
                assert service.stop() == 0, f"{service.name} did not stop cleanly; see {service.log}"
            else:
                assert service.process is not None
                os.kill(service.process.pid, signal.SIGSTOP)
        elif fault.kind == "kill":
            self.stack.dependencies.kill(fault.process)
        elif fault.kind == "stop":
            self.stack.dependencies.stop(fault.process)
        else:
            self.stack.dependencies.freeze(fault.process)

    def heal(self, fault: Fault) -> None:
        if fault.kind in TOXICS:
            self.stack.toxiproxy.remove_toxic(fault.target, TOXICS[fault.kind][0])
        elif fault.process in SERVICES:
            service = self.platform.services[fault.process]
            if fault.kind in ("kill", "stop"):
                service.start(wait_ready=False)
            else:
                assert service.process is not None
                os.kill(service.process.pid, signal.SIGCONT)
        elif fault.kind in ("kill", "stop"):
            self.stack.dependencies.start(fault.process)
        else:
            self.stack.dependencies.thaw(fault.process)
