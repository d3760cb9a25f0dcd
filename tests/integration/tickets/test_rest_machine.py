"""A hypothesis state machine drives random command sequences through the tickets HTTP API, on the
real Redis, and checks every answer and every ticket's status against a model written from
DOMAIN.md's lifecycle table (not from the service's lifecycle module)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

STATUSES = ["new", "open", "pending", "on_hold", "solved", "closed"]
UNSOLVED = {"open", "pending", "on_hold"}
# DOMAIN.md: new never returns; closed is final; solved may reopen or close; only solved closes.
ALLOWED = {
    "new": UNSOLVED | {"solved"},
    "open": (UNSOLVED - {"open"}) | {"solved"},
    "pending": (UNSOLVED - {"pending"}) | {"solved"},
    "on_hold": (UNSOLVED - {"on_hold"}) | {"solved"},
    "solved": UNSOLVED | {"closed"},
    "closed": set(),
}
CUSTOMER_REPLY = {"pending": "open", "solved": "open"}


@dataclass
class Expected:
    status: str = "new"
    reopen_count: int = 0
    version: int = 1
    comments: int = 0


class TicketLifecycle(RuleBasedStateMachine):
    def __init__(self, client: Any, headers: dict[str, str]) -> None:
        super().__init__()
        self.client = client
        self.headers = headers
        self.model: dict[str, Expected] = {}

    tickets = Bundle("tickets")

    def _changed(self, ticket_id: str, body: dict[str, Any]) -> None:
        expected = self.model[ticket_id]
        assert body["status"] == expected.status
        assert body["reopen_count"] == expected.reopen_count
        assert body["version"] >= expected.version
        expected.version = body["version"]

    @rule(target=tickets, with_description=st.booleans())
    def create(self, with_description: bool) -> str:
        body = {"subject": "Machine", "description": "first words" if with_description else ""}
        response = self.client.post("/v1/tickets", json=body, headers=self.headers)
        assert response.status_code == 201, response.json()
        ticket = response.json()
        self.model[ticket["id"]] = Expected(comments=int(with_description))
        self._changed(ticket["id"], ticket)
        return str(ticket["id"])

    @rule(ticket_id=tickets, to=st.sampled_from(STATUSES))
    def transition(self, ticket_id: str, to: str) -> None:
        expected = self.model[ticket_id]
        response = self.client.post(
            f"/v1/tickets/{ticket_id}/transition", json={"status": to}, headers=self.headers
        )
        if expected.status == to and to != "closed":
            assert response.status_code == 200, response.json()
            assert response.json()["version"] == expected.version
            return
        if to not in ALLOWED[expected.status]:
            assert response.status_code == 409, response.json()
            assert response.json()["rule"]
            return
        assert response.status_code == 200, response.json()
        if expected.status == "solved" and to in UNSOLVED:
            expected.reopen_count += 1
        expected.status = to
        self._changed(ticket_id, response.json())

    @rule(
        target=tickets, ticket_id=tickets, author=st.sampled_from(["agent", "customer"]), public=st.booleans()
    )
    def comment(self, ticket_id: str, author: str, public: bool) -> str:
        expected = self.model[ticket_id]
        public = public or author == "customer"
        response = self.client.post(
            f"/v1/tickets/{ticket_id}/comments",
            json={"body": "words", "author_type": author, "public": public},
            headers=self.headers,
        )
        if expected.status == "closed":
            if author == "agent":
                assert response.status_code == 409, response.json()
                return ticket_id
            assert response.status_code == 201, response.json()
            follow_up = response.json()["follow_up"]
            assert follow_up["follow_up_of"] == ticket_id
            self.model[follow_up["id"]] = Expected(comments=1)
            self._changed(follow_up["id"], follow_up)
            return str(follow_up["id"])
        assert response.status_code == 201, response.json()
        expected.comments += 1
        if public and author == "customer" and expected.status in CUSTOMER_REPLY:
            if expected.status == "solved":
                expected.reopen_count += 1
            expected.status = CUSTOMER_REPLY[expected.status]
        elif public and author == "agent" and expected.status == "new":
            expected.status = "open"
        self._changed(ticket_id, response.json()["ticket"])
        return ticket_id

    @rule(ticket_id=tickets)
    def stale_write(self, ticket_id: str) -> None:
        expected = self.model[ticket_id]
        if expected.version < 2:
            return
        response = self.client.patch(
            f"/v1/tickets/{ticket_id}",
            json={"priority": "urgent"},
            headers=self.headers | {"If-Match": f'"{expected.version - 1}"'},
        )
        assert response.status_code == 412, response.json()

    @invariant()
    def every_ticket_matches_the_model(self) -> None:
        for ticket_id, expected in self.model.items():
            ticket = self.client.get(f"/v1/tickets/{ticket_id}", headers=self.headers).json()
            assert (ticket["status"], ticket["reopen_count"], ticket["version"]) == (
                expected.status,
                expected.reopen_count,
                expected.version,
            )
            assert ticket["comment_count"] == expected.comments


def test_random_command_sequences_follow_the_lifecycle(
    api: tuple[Any, dict[str, dict[str, str]], Any], unique: str
) -> None:
    client, headers, _ = api
    run_state_machine_as_test(
        # A factory, as hypothesis documents and accepts; its annotation names only the class.
        lambda: TicketLifecycle(client, headers[f"a{unique}"]),  # type: ignore[arg-type]
        settings=settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
