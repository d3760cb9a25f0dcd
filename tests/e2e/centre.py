"""The simulated centre the runs through trouble play (tests/e2e/test_outages_under_load.py,
tests/chaos/): busy enough that every kind of contact, ticket and survey happens while a dependency
is away or a fault holds."""

from __future__ import annotations

from simulator.scenario import (
    AgentGroup,
    ChannelLoad,
    Duration,
    QueueSpec,
    Scenario,
    SelfService,
    Surveys,
    Tickets,
)

# Simulated seconds: far above any wrap-up, stretched by an outage or not, so the router never
# closes one itself.
WRAP_UP_TIMEOUT_S = 3600
SPEED = 5


def troubled_centre(
    tenant: str, hours: float, *, speed: float = SPEED, seed: int = 16, prefix: str = "out"
) -> Scenario:
    """Arrivals for `hours` simulated at `speed` (5x), on queues named `<prefix>-voice` and so
    on, then up to 2.4 minutes of drain: voice busy enough to queue, abandon and take callbacks,
    some calls held or handed off to support, chat, a bot that keeps half its conversations,
    emails every 20 s as tickets held to a first reply in 60 s and a resolution in 120 s and
    answered quickly (so that some run their course before the first outage), some pending until
    the customer writes back, some on hold, half of the solved closed; surveys."""
    queue = {"wrap_up_timeout_s": WRAP_UP_TIMEOUT_S, "service_level_threshold_s": 40}
    return Scenario(
        seed=seed,
        tenant=tenant,
        hours=hours,
        speed=speed,
        drain_h=0.04,
        curve=(1.0,) * 24,
        channels={
            "voice": ChannelLoad(
                per_hour=100, queue=f"{prefix}-voice", patience_mean_s=180, handle=Duration(mean_s=60),
                hold_rate=0.3, transfer_rate=0.3, transfer_to=f"{prefix}-support-voice",
                callback_acceptance=0.3,
            ),
            "chat": ChannelLoad(
                per_hour=60, queue=f"{prefix}-chat", patience_mean_s=600, handle=Duration(mean_s=90)
            ),
            "email": ChannelLoad(per_hour=180, queue=f"{prefix}-email", handle=Duration(mean_s=30)),
        },
        queues={
            f"{prefix}-voice": QueueSpec(callback_threshold_s=20, **queue),
            f"{prefix}-chat": QueueSpec(**queue),
            f"{prefix}-email": QueueSpec(department="support", **queue),
            f"{prefix}-support-voice": QueueSpec(
                department="support", required_skills={"technical": 2}, **queue
            ),
        },
        self_service=SelfService(
            per_hour=60, contained=0.5, escalate_to=f"{prefix}-chat", conversation=Duration(mean_s=30),
            patience_mean_s=600, handle=Duration(mean_s=90),
        ),
        agents=(
            AgentGroup(
                name="voice", count=3, queues=(f"{prefix}-voice",), capacity={"voice": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.05, miss_rate=0.05,
            ),
            AgentGroup(
                name="support", count=1, queues=(f"{prefix}-support-voice",), capacity={"voice": 1},
                skills={"technical": 3}, shift_start_h=0, shift_end_h=24, reject_rate=0.0, miss_rate=0.0,
            ),
            AgentGroup(
                name="digital", count=2, queues=(f"{prefix}-chat",), capacity={"chat": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.05, miss_rate=0.0,
            ),
            AgentGroup(
                name="email", count=4, queues=(f"{prefix}-email",), capacity={"email": 1},
                shift_start_h=0, shift_end_h=24, reject_rate=0.0, miss_rate=0.0,
            ),
        ),
        tickets=Tickets(
            channels=("email",), first_reply_target_s=60, resolution_target_s=120, pending_rate=0.3,
            customer_reply=Duration(mean_s=30), on_hold_rate=0.2, third_party=Duration(mean_s=30),
            close_rate=0.5,
        ),
        surveys=Surveys(response_rate=0.5),
    )  # fmt: skip
