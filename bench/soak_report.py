"""The soak's figures from its samples, and its Markdown: Redis memory per service per simulated day
with each day's growth, the plateau check of every service but tickets, tickets' bytes per ticket,
the bytes per contact, ticket and SLA record, what each Redis holds at the end by kind of key, and
the settings the run used. Pure: bench.soak takes the samples, this only reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from bench.redis_census import Kind, keys_of

DAY_S = 86_400.0
SERVICES = ("router", "tickets", "sla", "metrics")
# The services whose memory must level off: every record they keep expires. Tickets stay.
PLATEAUING = ("router", "sla", "metrics")
# The last day's growth may be at most this share of the first day's.
PLATEAU_SHARE = 0.05
CONTACT_KIND = "rt:{t}:contact"
TICKET_KIND = "tk:{t}:ticket"
SLA_KINDS = ("sla:{t}:ticket", "sla:{t}:contact")


@dataclass(frozen=True)
class Sample:
    # Simulated seconds since the run started.
    at_s: float
    # Per service, its Redis server's used_memory.
    used: Mapping[str, int]
    # Per service with an outbox, the entries the relay had not published yet.
    outbox: Mapping[str, int]
    # Per service, the events its consumer group had not committed yet.
    lag: Mapping[str, int]
    # Per service, its keys by kind; taken at the start of each simulated day only.
    census: Mapping[str, Mapping[str, Kind]] | None = None

    @property
    def day(self) -> float:
        return self.at_s / DAY_S


@dataclass(frozen=True)
class CentreDay:
    """One simulated day of the centre as the simulator's ledger has it, by the day contacts queued."""

    arrived: int
    queued: int
    answered: int
    abandoned: int
    # The answered contacts' mean wait, in simulated seconds.
    mean_wait_s: float | None


@dataclass(frozen=True)
class SettingUsed:
    service: str
    variable: str
    default: str
    simulated: str
    value: str


@dataclass(frozen=True)
class SoakRun:
    days: int
    agents: int
    speed: float
    contacts_per_day: float
    samples: Sequence[Sample]
    settings: Sequence[SettingUsed]
    arrived: int
    centre: Sequence[CentreDay]
    refusals: Sequence[str]

    @property
    def daily(self) -> list[Sample]:
        """The samples at the start of each simulated day (the first: configured, before any contact)."""
        return [sample for sample in self.samples if sample.census is not None]

    def growth(self, service: str, day: int) -> int:
        """How much the service's memory grew over simulated day `day` (1: the first)."""
        daily = self.daily
        return daily[day].used[service] - daily[day - 1].used[service]

    def census(self, day: int) -> Mapping[str, Mapping[str, Kind]]:
        census = self.daily[day].census
        if census is None:
            raise ValueError(f"day {day}'s sample has no census")
        return census

    def kept(self, day: int, service: str, kind: str) -> int:
        return keys_of(self.census(day)[service], kind)


@dataclass(frozen=True)
class Plateau:
    service: str
    first: int
    last: int

    @property
    def ratio(self) -> float | None:
        return self.last / self.first if self.first > 0 else None

    @property
    def holds(self) -> bool:
        return self.ratio is not None and self.ratio <= PLATEAU_SHARE


def plateaus(run: SoakRun) -> list[Plateau]:
    last = len(run.daily) - 1
    return [Plateau(service, run.growth(service, 1), run.growth(service, last)) for service in PLATEAUING]


def tickets_created(run: SoakRun, day: int) -> int:
    return run.kept(day, "tickets", TICKET_KIND) - run.kept(day - 1, "tickets", TICKET_KIND)


def bytes_per_ticket(run: SoakRun, first_day: int, last_day: int) -> float | None:
    """The tickets database's growth over those days over the tickets created in them."""
    daily = run.daily
    created = run.kept(last_day, "tickets", TICKET_KIND) - run.kept(first_day - 1, "tickets", TICKET_KIND)
    grown = daily[last_day].used["tickets"] - daily[first_day - 1].used["tickets"]
    return grown / created if created else None


# -- formatting -----------------------------------------------------------------------------------


def size(n: float) -> str:
    magnitude = abs(n)
    if magnitude >= 1e6:
        return f"{n / 1e6:.2f} MB"
    if magnitude >= 1e4:
        return f"{n / 1e3:.0f} kB"
    if magnitude >= 1e3:
        return f"{n / 1e3:.1f} kB"
    return f"{n:.0f} B"


def delta(n: float) -> str:
    return f"+{size(n)}" if n >= 0 else f"-{size(-n)}"


def clock_text(at_s: float) -> str:
    """`day 2 06:00`: the simulated day (1: the first) and time of day."""
    whole = round(at_s)
    day, rest = divmod(whole, round(DAY_S))
    return f"day {day + 1} {rest // 3600:02d}:{rest % 3600 // 60:02d}"


def _each(total: float, count: int) -> str:
    return f"{total / count:,.0f}" if count else "-"


# -- sections -------------------------------------------------------------------------------------


def summary(run: SoakRun) -> list[str]:
    day_real_s = DAY_S / run.speed
    return [
        f"A centre of {run.agents} agents, {run.days} simulated days at {run.speed:g}x (a simulated day "
        f"in {day_real_s / 60:.1f} real minutes), {run.contacts_per_day:,.0f} contacts a day planned: "
        f"{run.arrived:,} contacts arrived, "
        f"{run.kept(len(run.daily) - 1, 'tickets', TICKET_KIND):,} tickets kept. Each service has its own "
        "redis-server, so its `used_memory` is that service's alone; day 0 is the centre configured, "
        "before its first contact.",
    ]


def daily_table(run: SoakRun) -> list[str]:
    header = "| day | " + " | ".join(f"{s} | {s} growth" for s in SERVICES) + " | contacts kept | tickets |"
    lines = [header, "|" + "---|" * (2 * len(SERVICES) + 3)]
    for day, sample in enumerate(run.daily):
        cells = [f"{day}"]
        for service in SERVICES:
            cells.append(size(sample.used[service]))
            cells.append(delta(run.growth(service, day)) if day else "")
        cells.append(f"{run.kept(day, 'router', CONTACT_KIND):,}")
        cells.append(f"{run.kept(day, 'tickets', TICKET_KIND):,}")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def samples_table(run: SoakRun) -> list[str]:
    lines = [
        "| simulated | "
        + " | ".join(SERVICES)
        + " | outbox entries left | consumer lag (events), "
        + " / ".join(SERVICES)
        + " |",
        "|" + "---|" * 7,
    ]
    for sample in run.samples:
        left = sum(sample.outbox.values())
        lag = " / ".join(f"{sample.lag.get(s, 0):,}" for s in SERVICES)
        lines.append(
            f"| {clock_text(sample.at_s)} | "
            + " | ".join(size(sample.used[s]) for s in SERVICES)
            + f" | {left} | {lag} |"
        )
    return lines


def centre_table(run: SoakRun) -> list[str]:
    lines = [
        "| day | contacts arrived | queued | answered | abandoned | mean wait of the answered (simulated) |",
        "|---|---|---|---|---|---|",
    ]
    for day, lived in enumerate(run.centre, 1):
        wait = f"{lived.mean_wait_s:,.0f} s" if lived.mean_wait_s is not None else "-"
        counts = (lived.arrived, lived.queued, lived.answered, lived.abandoned)
        lines.append(f"| {day} | " + " | ".join(f"{n:,}" for n in counts) + f" | {wait} |")
    return lines


def plateau_lines(run: SoakRun) -> list[str]:
    last = len(run.daily) - 1
    lines = [
        "| service | first day's growth | last day's growth | last / first | plateau (at most "
        f"{PLATEAU_SHARE:.0%}) |",
        "|---|---|---|---|---|",
    ]
    for plateau in plateaus(run):
        ratio = plateau.ratio
        lines.append(
            f"| {plateau.service} | {delta(plateau.first)} | {delta(plateau.last)} | "
            + (f"{ratio:.1%}" if ratio is not None else "-")
            + f" | {'PASS' if plateau.holds else 'FAIL'} |"
        )
    created = tickets_created(run, last)
    lines.append(
        f"| tickets | {delta(run.growth('tickets', 1))} | {delta(run.growth('tickets', last))} | "
        f"grows with its tickets: {_each(run.growth('tickets', last), created)} bytes a ticket on the last "
        f"day ({created:,} created) | kept for good |"
    )
    return lines


def per_ticket_lines(run: SoakRun) -> list[str]:
    last = len(run.daily) - 1
    lines = ["| day | tickets created | tickets growth | bytes a ticket |", "|---|---|---|---|"]
    for day in range(1, last + 1):
        created = tickets_created(run, day)
        grown = run.growth("tickets", day)
        lines.append(f"| {day} | {created:,} | {delta(grown)} | {_each(grown, created)} |")
    return lines


def per_record_lines(run: SoakRun) -> list[str]:
    """All in: the service's memory above the centre configured, over the records it keeps."""
    last = len(run.daily) - 1
    first, final = run.daily[0], run.daily[last]
    census = run.census(last)

    def above(service: str) -> int:
        return final.used[service] - first.used[service]

    def own(service: str, kinds: Sequence[str]) -> str:
        held = [census[service][k] for k in kinds if k in census[service]]
        count = sum(k.keys for k in held)
        return _each(sum(k.bytes for k in held), count)

    contacts = run.kept(last, "router", CONTACT_KIND)
    tickets = run.kept(last, "tickets", TICKET_KIND)
    slas = sum(run.kept(last, "sla", kind) for kind in SLA_KINDS)
    whole_run = bytes_per_ticket(run, 1, last)
    return [
        "| record | kept at the end (SCAN) | its service's memory above day 0 | bytes each, all in "
        "| its own key (MEMORY USAGE) |",
        "|---|---|---|---|---|",
        f"| contact (router `{CONTACT_KIND}`) | {contacts:,} | {size(above('router'))} | "
        f"{_each(above('router'), contacts)} | {own('router', (CONTACT_KIND,))} |",
        f"| ticket (tickets `{TICKET_KIND}`) | {tickets:,} | {size(above('tickets'))} | "
        + (f"{whole_run:,.0f}" if whole_run is not None else "-")
        + f" | {own('tickets', (TICKET_KIND,))} |",
        f"| SLA record (sla `{SLA_KINDS[0]}` and `{SLA_KINDS[1]}`) | {slas:,} | {size(above('sla'))} | "
        f"{_each(above('sla'), slas)} | {own('sla', SLA_KINDS)} |",
    ]


def census_lines(run: SoakRun) -> list[str]:
    """Each Redis's keys by kind at the end, and how they changed over the last day: what grows."""
    last = len(run.daily) - 1
    final, before = run.census(last), run.census(last - 1)
    lines = [
        "| service | kind of key | keys | bytes (MEMORY USAGE) | bytes each | keys, last day "
        "| bytes, last day |",
        "|---|---|---|---|---|---|---|",
    ]
    for service in SERVICES:
        kinds = sorted(set(final[service]) | set(before[service]))
        for kind in kinds:
            now = final[service].get(kind, Kind(0, 0))
            then = before[service].get(kind, Kind(0, 0))
            lines.append(
                f"| {service} | `{kind}` | {now.keys:,} | {size(now.bytes)} | {_each(now.bytes, now.keys)} | "
                f"{now.keys - then.keys:+,} | {delta(now.bytes - then.bytes)} |"
            )
    return lines


def settings_lines(run: SoakRun) -> list[str]:
    lines = [
        f"| service | variable | default | simulated in the soak | set to (real, at {run.speed:g}x) |",
        "|---|---|---|---|---|",
    ]
    for s in run.settings:
        lines.append(f"| {s.service} | `{s.variable}` | {s.default} | {s.simulated} | {s.value} |")
    return lines


def markdown(run: SoakRun, notes: Sequence[str] = ()) -> str:
    last = len(run.daily) - 1
    sections: list[list[str]] = [
        summary(run),
        ["The centre by simulated day, as the simulator lived it (its own ledger):"],
        centre_table(run),
        ["Redis memory per service at the start of each simulated day, and its growth over the day:"],
        daily_table(run),
        [
            "Plateau: the last day's growth against the first day's. Tickets are the system of record, "
            "so their memory grows by what each ticket costs:"
        ],
        plateau_lines(run),
        per_ticket_lines(run),
        [
            "Bytes per record: the service's memory above day 0 over the records it keeps at the end "
            f"(day {last}), all in (the record, its indexes, timers and the other kinds it brings), "
            "beside the record's own key:"
        ],
        per_record_lines(run),
        ["What each Redis holds at the end, by kind of key, and its change over the last day:"],
        census_lines(run),
        [
            "Every sample (after the relays had published their outboxes), with how far each "
            "service's consumers were behind:"
        ],
        samples_table(run),
        ["Settings: every retention and time the platform keeps, scaled to the wall clock by the speed:"],
        settings_lines(run),
    ]
    refusals = [f"- the platform refused {len(run.refusals)} calls of the simulated centre"]
    refusals += [f"  - {what}" for what in run.refusals[:5]]
    sections.append([*refusals, *(f"- {note}" for note in notes)])
    return "\n\n".join("\n".join(section) for section in sections)
