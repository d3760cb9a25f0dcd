"""The ground truth's own account of the KPIs, worked by hand, and the contradictions it refuses."""

from __future__ import annotations

import pytest

from simulator.plan import SurveyAnswers
from simulator.truth import Ledger, LedgerError, SlaExpectation, survey_answers

KINDS = ("csat", "nps", "ces")


def _queued(ledger: Ledger, contact_id: str, at: float, queue: str = "q", channel: str = "voice") -> None:
    ledger.arrived(contact_id, channel)
    ledger.queued(contact_id, queue, channel, at)


def test_a_queues_figures_by_hand() -> None:
    ledger = Ledger()
    # Answered after 5 s and after exactly the 20 s threshold (within it), after 35 s (not),
    # one abandoned after 50 s, one still waiting at the end of the run.
    for contact_id, at in (("c1", 0.0), ("c2", 10.0), ("c3", 20.0), ("c4", 30.0), ("c5", 40.0)):
        _queued(ledger, contact_id, at)
    ledger.answered("c1", 5.0)
    ledger.answered("c2", 30.0)
    ledger.answered("c3", 55.0)
    ledger.abandoned("c4", 80.0)
    ledger.handled("c1", talk_s=100.0, hold_s=20.0, wrap_up_s=30.0)
    ledger.handled("c2", talk_s=200.0, hold_s=0.0, wrap_up_s=50.0)

    figures = ledger.figures({"q": 20.0}).queues["q", "voice"]

    assert (figures.queued, figures.answered, figures.answered_within, figures.abandoned) == (5, 3, 2, 1)
    assert figures.service_level == pytest.approx(2 / 4)
    assert figures.asa_s == pytest.approx((5 + 20 + 35) / 3)
    # c3 is still talking: AHT counts handled contacts only.
    assert figures.aht_s == pytest.approx((150 + 250) / 2)
    assert figures.abandonment_rate == pytest.approx(1 / 5)


def test_after_hours_contacts_are_neither_answered_nor_abandoned() -> None:
    ledger = Ledger()
    # c1 waited and was closed out at the closing; c2 arrived while closed and never queued; c3
    # was answered before the closing.
    for contact_id, at in (("c1", 0.0), ("c2", 10.0), ("c3", 0.0)):
        _queued(ledger, contact_id, at)
    ledger.answered("c3", 2.0)
    ledger.after_hours("c1", 5.0, waited=True)
    ledger.after_hours("c2", 10.0, waited=False)

    figures = ledger.figures({"q": 20.0}).queues["q", "voice"]

    assert (figures.queued, figures.answered, figures.abandoned) == (2, 1, 0)
    assert ledger.after_hours_counts() == {("q", "voice"): 2}
    assert not ledger.contacts["c1"].waiting()
    with pytest.raises(LedgerError, match="not waiting"):
        ledger.after_hours("c3", 6.0, waited=True)
    with pytest.raises(LedgerError, match="not waiting"):
        ledger.abandoned("c1", 7.0)


def test_an_after_hours_callback_waits_since_the_caller_queued_and_is_no_entry_of_its_own() -> None:
    ledger = Ledger()
    _queued(ledger, "c1", 0.0)
    _queued(ledger, "c2", 10.0)
    ledger.after_hours("c1", 5.0, waited=True, callback_id="cb1")
    ledger.after_hours("c2", 10.0, waited=False, callback_id="cb2")
    ledger.answered("cb1", 65.0)

    figures = ledger.figures({"q": 20.0}).queues
    assert (figures["q", "voice"].queued, figures["q", "voice"].answered) == (1, 0)
    assert (figures["q", "callback"].queued, figures["q", "callback"].answered) == (0, 1)
    assert figures["q", "callback"].asa_s == pytest.approx(65.0)
    assert ledger.contacts["cb2"].waiting()
    assert ledger.after_hours_counts() == {("q", "voice"): 2}
    _queued(ledger, "c3", 20.0)
    with pytest.raises(LedgerError, match="arrived twice"):
        ledger.after_hours("c3", 20.0, waited=False, callback_id="cb1")


def _ticket(ledger: Ledger, contact_id: str) -> str:
    _queued(ledger, contact_id, 0.0, channel="email")
    ledger.ticket_opened(contact_id, f"t-{contact_id}", 0.0)
    return f"t-{contact_id}"


def test_surveys_and_deflection_by_hand() -> None:
    ledger = Ledger()
    ledger.arrived("bot-1", "bot")
    ledger.self_served("bot-1")
    answers = {
        "c1": SurveyAnswers(csat=5, nps=10, ces=2),
        "c2": SurveyAnswers(csat=3, nps=8, ces=4),
        "c3": SurveyAnswers(csat=4, nps=2, ces=6),
    }
    for contact_id, planned in answers.items():
        ticket_id = _ticket(ledger, contact_id)
        assert ledger.survey_requested(f"s-{contact_id}", ticket_id, contact_id, KINDS, 1.0)
        ledger.survey_answered(f"s-{contact_id}", survey_answers(KINDS, planned))
    # Asked and not answered: no response counts in no figure.
    assert ledger.survey_requested("s-c4", _ticket(ledger, "c4"), "c4", KINDS, 1.0)

    figures = ledger.figures({"q": 20.0})

    assert figures.csat == pytest.approx(2 / 3)
    # One promoter, one passive, one detractor.
    assert figures.nps == pytest.approx(0.0)
    assert figures.ces == pytest.approx(4.0)
    assert figures.deflection == pytest.approx(1 / 5)


def test_a_survey_counts_only_the_questions_it_asked() -> None:
    ledger = Ledger()
    ledger.survey_requested("s1", _ticket(ledger, "c1"), "c1", ("nps",), 1.0)
    ledger.survey_answered("s1", survey_answers(("nps",), SurveyAnswers(csat=1, nps=9, ces=7)))
    figures = ledger.figures({"q": 20.0})
    assert (figures.csat, figures.nps, figures.ces) == (None, 100.0, None)


def test_a_repeated_survey_request_is_counted_not_answered_again() -> None:
    ledger = Ledger()
    ticket_id = _ticket(ledger, "c1")
    other = _ticket(ledger, "c2")
    assert ledger.survey_requested("s1", ticket_id, "c1", KINDS, 1.0)
    assert not ledger.survey_requested("s1", ticket_id, "c1", KINDS, 2.0)
    # A second survey of one ticket: the platform asked twice for one solve.
    assert ledger.survey_requested("s2", ticket_id, "c1", KINDS, 3.0)
    assert ledger.survey_requests() == {ticket_id: 3}
    ledger.ticket_solved(other, 4.0)
    assert ledger.solved_tickets() == {other}


def test_survey_contradictions_are_refused() -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match="not one of the run"):
        ledger.survey_requested("s1", "t-elsewhere", "c9", KINDS, 1.0)
    ticket_id = _ticket(ledger, "c1")
    with pytest.raises(LedgerError, match="not CSAT, NPS or CES"):
        ledger.survey_requested("s1", ticket_id, "c1", ("csat", "mood"), 1.0)
    with pytest.raises(LedgerError, match="never requested"):
        ledger.survey_answered("s1", {"csat": 5})
    ledger.survey_requested("s1", ticket_id, "c1", ("csat",), 1.0)
    with pytest.raises(LedgerError, match="asked"):
        ledger.survey_answered("s1", {"csat": 5, "nps": 9})
    ledger.survey_answered("s1", {"csat": 5})
    with pytest.raises(LedgerError, match="answered twice"):
        ledger.survey_answered("s1", {"csat": 4})


def test_an_empty_run_has_no_figures_rather_than_zeros() -> None:
    figures = Ledger().figures({})
    assert figures.queues == {}
    assert (figures.csat, figures.nps, figures.ces, figures.deflection) == (None, None, None, None)


def test_contradictions_are_refused() -> None:
    ledger = Ledger()
    with pytest.raises(LedgerError, match="never arrived"):
        ledger.queued("ghost", "q", "voice", 0.0)
    _queued(ledger, "c1", 0.0)
    with pytest.raises(LedgerError, match="arrived twice"):
        ledger.arrived("c1", "voice")
    with pytest.raises(LedgerError, match="queued twice"):
        ledger.queued("c1", "q", "voice", 1.0)
    with pytest.raises(LedgerError, match="handled without being answered"):
        ledger.handled("c1", 1.0, 0.0, 0.0)
    ledger.abandoned("c1", 3.0)
    with pytest.raises(LedgerError, match="not waiting"):
        ledger.answered("c1", 4.0)
    with pytest.raises(LedgerError, match="was queued, so not self-served"):
        ledger.self_served("c1")


def test_a_ticket_replied_in_time_is_fulfilled_and_one_replied_late_warned_and_breached() -> None:
    ledger = Ledger()
    for contact_id, ticket_id in (("c1", "t1"), ("c2", "t2"), ("c3", "t3")):
        ledger.arrived(contact_id, "email")
        ledger.ticket_opened(contact_id, ticket_id, 10.0)
    ledger.ticket_replied("t1", 12.0)
    ledger.ticket_replied("t1", 30.0)
    ledger.ticket_solved("t1", 13.0)
    ledger.ticket_replied("t2", 14.0)
    slas = ledger.ticket_slas({"first_reply": 3.0, "requester_wait": 6.0}, 0.75, now=20.0)
    assert slas[("t1", "first_reply")] == SlaExpectation(
        warned=False, breached=False, fulfilled=True, margin_s=0.25
    )
    assert slas[("t1", "requester_wait")] == SlaExpectation(False, False, True, margin_s=1.5)
    # Replied after 4 s of 3: warned at 2.25 s, breached at 3 s, fulfilled late.
    assert slas[("t2", "first_reply")] == SlaExpectation(True, True, True, margin_s=1.0)
    # Never solved: running 10 s against 6, so breached and not fulfilled.
    assert slas[("t2", "requester_wait")] == SlaExpectation(True, True, False, margin_s=4.0)
    assert slas[("t3", "first_reply")].fulfilled is False
    # Every public reply is counted; only the first one starts and ends first_reply.
    assert [ledger.tickets[t].replies for t in ("t1", "t2", "t3")] == [2, 1, 0]


def test_a_ticket_is_opened_and_solved_once() -> None:
    ledger = Ledger()
    ledger.arrived("c1", "email")
    ledger.ticket_opened("c1", "t1", 1.0)
    with pytest.raises(LedgerError):
        ledger.ticket_opened("c1", "t1", 2.0)
    ledger.ticket_solved("t1", 3.0)
    with pytest.raises(LedgerError):
        ledger.ticket_solved("t1", 4.0)


def test_queue_watches_time_each_wait_on_the_watched_channels_and_report_no_fulfilment() -> None:
    ledger = Ledger()
    for contact_id, channel in (("c1", "voice"), ("c2", "voice"), ("c3", "email"), ("c4", "chat")):
        ledger.arrived(contact_id, channel)
        ledger.queued(contact_id, "q1", channel, 0.0)
    ledger.answered("c1", 1.0)
    ledger.abandoned("c2", 2.5)
    watches = ledger.queue_watches({"q1": 2.0}, ("voice", "chat"), 0.75, now=1.8)
    assert set(watches) == {("c1", "q1"), ("c2", "q1"), ("c4", "q1")}
    assert watches[("c1", "q1")] == SlaExpectation(
        warned=False, breached=False, fulfilled=False, margin_s=0.5
    )
    assert watches[("c2", "q1")] == SlaExpectation(True, True, False, margin_s=0.5)
    # Still waiting at 1.8 s: warned at 1.5 s, not yet breached.
    assert (watches[("c4", "q1")].warned, watches[("c4", "q1")].breached) == (True, False)


def _transferred_call() -> Ledger:
    """c1 queued in q1 at 0, answered at 1, sent on to q2 at 5."""
    ledger = Ledger()
    ledger.arrived("c1", "voice")
    ledger.queued("c1", "q1", "voice", 0.0)
    ledger.answered("c1", 1.0)
    ledger.transferred("c1", "q2", 5.0)
    return ledger


def test_a_transferred_contact_waits_again_with_its_earlier_wait_counting() -> None:
    ledger = _transferred_call()
    with pytest.raises(LedgerError):
        ledger.handled("c1", 1.0, 0.0, 1.0)
    ledger.answered("c1", 5.5)
    ledger.handled("c1", talk_s=2.0, hold_s=0.0, wrap_up_s=1.0)
    watches = ledger.queue_watches({"q1": 2.0, "q2": 1.2}, ("voice",), 0.75, now=10.0)
    # The second entry counts from 4.0 (5.0 less the 1.0 already waited): 1.5 s against 1.2.
    assert watches[("c1", "q2")] == SlaExpectation(True, True, False, margin_s=pytest.approx(0.3))  # type: ignore[arg-type]  # approx compares equal
    figures = ledger.figures({"q1": 2.0, "q2": 1.2}).queues
    # Queued and answered where it first entered; handled where it was completed.
    assert (figures[("q1", "voice")].queued, figures[("q1", "voice")].answered) == (1, 1)
    assert figures[("q1", "voice")].aht_s is None
    assert (figures[("q2", "voice")].queued, figures[("q2", "voice")].aht_s) == (0, 3.0)


def test_an_abandon_after_a_transfer_counts_in_the_queue_it_happened_in() -> None:
    ledger = _transferred_call()
    ledger.abandoned("c1", 7.0)
    figures = ledger.figures({"q1": 2.0, "q2": 2.0}).queues
    assert (figures[("q1", "voice")].abandoned, figures[("q2", "voice")].abandoned) == (0, 1)


def test_occupancy_counts_handling_over_handling_and_available_time_of_ended_activities() -> None:
    ledger = Ledger()
    ledger.agent_activity("a1", "available", 0.0)
    ledger.agent_activity("a1", "busy", 3.0)
    ledger.agent_activity("a1", "busy", 4.0)
    ledger.agent_activity("a1", "wrap-up", 9.0)
    ledger.agent_activity("a1", "away", 10.0)
    ledger.agent_activity("a2", "available", 1.0)
    # Reported a little out of order by a concurrent call: taken as no earlier.
    ledger.agent_activity("a2", "busy", 0.5)
    assert ledger.occupancy() == pytest.approx((6 + 1) / (6 + 1 + 3))
    ledger.agent_activity("a1", "off shift", 100.0)
    ledger.agent_activity("a2", "available", 2.5)
    assert ledger.occupancy() == pytest.approx((6 + 1 + 1.5) / (6 + 1 + 1.5 + 3))


def test_fcr_is_the_share_of_solved_tickets_solved_on_their_one_contact() -> None:
    ledger = Ledger()
    assert ledger.fcr() is None
    for n in (1, 2, 3):
        ledger.arrived(f"c{n}", "email")
        ledger.ticket_opened(f"c{n}", f"t{n}", 0.0)
    ledger.ticket_solved("t1", 1.0)
    ledger.ticket_solved("t2", 1.0)
    ledger.tickets["t2"].contacts = 2
    assert ledger.fcr() == 0.5


def test_a_callback_keeps_the_callers_place_and_is_answered_on_the_callback_channel() -> None:
    ledger = Ledger()
    ledger.arrived("c1", "voice")
    ledger.queued("c1", "q1", "voice", 0.0)
    ledger.called_back("c1", "cb1", 0.5)
    with pytest.raises(LedgerError):
        ledger.answered("c1", 1.0)
    ledger.answered("cb1", 4.0)
    ledger.handled("cb1", talk_s=3.0, hold_s=0.0, wrap_up_s=1.0)
    figures = ledger.figures({"q1": 2.0}).queues
    # The call queued, and ended neither answered nor abandoned; the callback is no queue entry
    # of its own, and its wait counts from the call's.
    assert (figures[("q1", "voice")].queued, figures[("q1", "voice")].answered) == (1, 0)
    assert figures[("q1", "voice")].abandoned == 0
    assert (figures[("q1", "callback")].queued, figures[("q1", "callback")].asa_s) == (0, 4.0)
    watches = ledger.queue_watches({"q1": 2.0}, ("voice",), 0.75, now=10.0)
    assert watches == {("c1", "q1"): SlaExpectation(False, False, False, margin_s=1.0)}


def test_requester_wait_pauses_while_pending_and_a_written_back_ticket_is_no_first_contact() -> None:
    ledger = Ledger()
    for contact_id, ticket_id in (("c1", "t1"), ("c2", "t2")):
        ledger.arrived(contact_id, "email")
        ledger.ticket_opened(contact_id, ticket_id, 0.0)
    ledger.ticket_replied("t1", 1.0)
    ledger.ticket_pending("t1", 2.0)
    # Pending now: 2 s open so far, at 10 s as at 3 s.
    assert (
        ledger.ticket_slas({"requester_wait": 6.0}, 0.75, now=10.0)[("t1", "requester_wait")].warned is False
    )
    ledger.ticket_written_back("t1", 20.0)
    ledger.ticket_solved("t1", 23.0)
    ledger.ticket_replied("t2", 1.0)
    ledger.ticket_solved("t2", 2.0)
    slas = ledger.ticket_slas({"first_reply": 3.0, "requester_wait": 6.0}, 0.75, now=30.0)
    # Open 2 s, pending 18 s, open 3 s: 5 s of the requester's wait, warned at 4.5, not breached.
    assert slas[("t1", "requester_wait")] == SlaExpectation(True, False, True, margin_s=pytest.approx(0.5))  # type: ignore[arg-type]  # approx compares equal
    assert slas[("t1", "first_reply")] == SlaExpectation(False, False, True, margin_s=pytest.approx(1.25))  # type: ignore[arg-type]  # approx compares equal
    assert ledger.fcr() == 0.5
    with pytest.raises(LedgerError):
        ledger.ticket_written_back("t1", 31.0)
