"""A fleet of simulated muck trucks: each cycles construction site → disposal yard → site.

Pure logic: no I/O and no wall clock. The caller passes the start time and a seeded ``Random``
and asks for the uploads that have fallen due by some time with :meth:`Fleet.advance`. Each
truck draws from its own generator (seeded from the one passed in), so what a truck sends does not
depend on how the caller slices time.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from tracker.roads.network import RoadNetwork
from tracker.sim.motion import SCRIPT_LOAD_S, DrivingConfig, Resume, TruckMotion
from tracker.sim.places import Place
from tracker.sim.terminal import OutgoingBatch, Terminal, TerminalConfig

SCRIPT_UPLOAD_S = (5.0, 15.0)  # a violator's terminal uploads this often
# ... and has a good receiver: the demo's first site (the violators') is an OSM polygon at most
# 6 m deep, so at the usual 5-15 m RMS error half its fixes fell outside, two in a row often
# enough that the engine never saw the 120 s dwell that makes a loaded trip
SCRIPT_ERROR_M = (2.0, 3.0)
CUT_AFTER_S = 60.0  # the scripted power cut, this long after the truck leaves its site


@dataclass(slots=True)
class FleetStats:
    fixes: int = 0
    batches: int = 0
    late_batches: int = 0


class Truck:
    def __init__(
        self,
        index: int,
        motion: TruckMotion,
        terminal: Terminal,
    ) -> None:
        self.index = index
        self.motion = motion
        self.terminal = terminal

    def advance(self, to_s: float) -> list[OutgoingBatch]:
        """Run this truck's terminal until ``to_s`` (seconds since the fleet start)."""
        terminal = self.terminal
        batches: list[OutgoingBatch] = []
        while (t_s := terminal.next_event_s()) <= to_s:
            if t_s == terminal.next_fix_s:
                terminal.on_fix_due(self.motion.state_at(t_s))
            elif t_s == terminal.next_upload_s:
                batch = terminal.on_upload_due()
                if batch is not None:
                    batches.append(batch)
            else:
                batches.append(terminal.on_release_due())
        return batches


class Fleet:
    def __init__(
        self,
        network: RoadNetwork,
        sites: list[Place],
        yard: Place,
        n_trucks: int,
        rng: random.Random,
        start_time: datetime,
        driving: DrivingConfig | None = None,
        terminal: TerminalConfig | None = None,
        record_truth: bool = False,
        resume: Sequence[Resume | None] = (),
        scripts: Sequence[str | None] = (),
        script_at: datetime | None = None,
    ) -> None:
        """``resume``: per truck, where it was last seen (a restarted simulator carries on).
        ``scripts``: per truck, a violation it commits after loading at ``script_at`` (the live
        start; ``motion.VIOLATIONS``); a ``cut_terminal`` truck's terminal reports a power cut
        ``CUT_AFTER_S`` after it leaves the site, then falls silent."""
        at_s = ((script_at or start_time) - start_time).total_seconds()
        if start_time.tzinfo is None:
            raise ValueError("start_time must be timezone-aware")
        if not sites:
            raise ValueError("a fleet needs at least one site")
        self.start_time = start_time
        self.stats = FleetStats()
        driving = driving or DrivingConfig()
        terminal = terminal or TerminalConfig()
        self.trucks: list[Truck] = []
        for index in range(n_trucks):
            truck_rng = random.Random(rng.getrandbits(64))
            seen = resume[index] if index < len(resume) else None
            script = scripts[index] if index < len(scripts) and seen is None else None
            motion = TruckMotion(
                network,
                sites,
                yard,
                truck_rng,
                driving,
                index % 2 == 1,
                resume=seen,
                script=script,
                script_at_s=at_s,
            )
            # a violator's terminal uploads often, so its incident shows within minutes
            config = terminal
            if script is not None:
                config = replace(
                    terminal,
                    upload_min_s=SCRIPT_UPLOAD_S[0],
                    upload_max_s=SCRIPT_UPLOAD_S[1],
                    error_min_m=min(terminal.error_min_m, SCRIPT_ERROR_M[0]),
                    error_max_m=min(terminal.error_max_m, SCRIPT_ERROR_M[1]),
                    late_prob=0.0,  # nor held-back runs or blackouts: a late run of the
                    gap_prob=0.0,  # loading minutes hid the dwell from the engine (scratch demo)
                )
            unit = Terminal(index, random.Random(rng.getrandbits(64)), config, start_time)
            if script == "cut_terminal":
                unit.cut_at_s = at_s + SCRIPT_LOAD_S + CUT_AFTER_S
            unit.record_truth = record_truth
            self.trucks.append(Truck(index, motion, unit))
        self.now = start_time

    def advance(self, to_time: datetime) -> list[OutgoingBatch]:
        """Every upload that falls due in ``(now, to_time]``, in send-time order."""
        if to_time < self.now:
            return []
        to_s = (to_time - self.start_time).total_seconds()
        batches = [b for truck in self.trucks for b in truck.advance(to_s)]
        batches.sort(key=lambda b: (b.send_time, b.truck))
        self.now = to_time
        self.stats.batches += len(batches)
        self.stats.late_batches += sum(1 for b in batches if b.late)
        self.stats.fixes += sum(len(b.fixes) for b in batches)
        return batches

    def warm_up(self, until: datetime) -> None:
        """Run to ``until`` and discard what was sent, so trucks are mid-cycle from then on."""
        self.advance(until)
        self.stats = FleetStats()

    def truth(self, truck: int, time: str) -> tuple[float, float] | None:
        """The noise-free ``lon, lat`` of a sent fix (only with ``record_truth``)."""
        return self.trucks[truck].terminal.truth.get(time)
