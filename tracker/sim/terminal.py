"""A simulated on-board terminal: samples the true state, adds noise, buffers and uploads.

Noise modelled after what platforms see from real terminals: jittered 10–30 s report intervals,
5–15 m correlated position error, blackouts in tunnels and urban canyons, lost fixes, resent
duplicates and runs of fixes held back and delivered minutes late. Pure: no clock, no I/O.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tracker.geo import EARTH_RADIUS_M
from tracker.sim.motion import TruthState

FixDict = dict[str, object]
POWER_CUT_ALARM = 1 << 8  # JT/T 808 alarm flag: main power cut (docs/JT808.md §7.2)
CUT_SILENCE_S = 900.0  # a cut terminal reports the cut, then nothing for this long


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    interval_min_s: int = 10
    interval_max_s: int = 30
    error_min_m: float = 5.0  # per-terminal RMS horizontal error is drawn from this range
    error_max_m: float = 15.0
    error_clip: float = 2.5  # no error beyond this many RMS
    error_correlation: float = 0.6  # GNSS error drifts; it is not white noise
    loss_prob: float = 0.03  # a fix silently lost
    gap_prob: float = 0.005  # per fix: an urban-canyon blackout starts
    gap_min_s: float = 60.0
    gap_max_s: float = 300.0
    tunnel_blackout: bool = True  # no fixes while on a mapped tunnel
    duplicate_prob: float = 0.01  # per fix: an already sent fix is sent again
    late_prob: float = 0.01  # per fix: a run of fixes is held back and sent late
    late_run_min: int = 3
    late_run_max: int = 10
    late_delay_min_s: float = 120.0
    late_delay_max_s: float = 600.0
    upload_min_s: float = 10.0  # terminals buffer fixes and upload every so often
    upload_max_s: float = 60.0

    @classmethod
    def clean(cls) -> TerminalConfig:
        """No loss, gaps, duplicates or late batches (position noise and jitter remain)."""
        return cls(
            loss_prob=0.0,
            gap_prob=0.0,
            tunnel_blackout=False,
            duplicate_prob=0.0,
            late_prob=0.0,
        )


@dataclass(frozen=True, slots=True)
class OutgoingBatch:
    truck: int  # index of the truck in the fleet
    send_time: datetime
    fixes: list[FixDict]
    late: bool = False  # a held-back run, older than fixes already sent


def format_time(t: datetime) -> str:
    """RFC 3339 UTC with milliseconds and ``Z``."""
    t = t.astimezone(UTC)
    return f"{t:%Y-%m-%dT%H:%M:%S}.{t.microsecond // 1000:03d}Z"


def synthetic_altitude_m(lon: float, lat: float) -> float:
    """A smooth made-up relief: the extract carries no elevation, terminals always report one."""
    wave = math.sin(math.radians(lon) * 2000.0) * math.cos(math.radians(lat) * 1500.0)
    return 150.0 + 120.0 * wave


@dataclass(slots=True)
class _Held:
    fixes: list[FixDict] = field(default_factory=list)
    remaining: int = 0
    releases: list[tuple[float, list[FixDict]]] = field(default_factory=list)


class Terminal:
    def __init__(
        self, truck: int, rng: random.Random, config: TerminalConfig, epoch: datetime
    ) -> None:
        self.truck, self.rng, self.config, self.epoch = truck, rng, config, epoch
        self.base_interval_s = rng.uniform(config.interval_min_s + 2, config.interval_max_s - 2)
        self.error_rms_m = rng.uniform(config.error_min_m, config.error_max_m)
        self.next_fix_s = float(rng.randint(0, config.interval_max_s))
        self.next_upload_s = rng.uniform(config.upload_min_s, config.upload_max_s)
        self.satellites = rng.randint(8, 13)
        self._error_m = (0.0, 0.0)  # east, north
        self._blackout_until_s = -1.0
        self._buffer: list[FixDict] = []
        self._sent: list[FixDict] = []
        self._held = _Held()
        self.truth: dict[str, tuple[float, float]] = {}  # fix time → true lon, lat (tests)
        self.record_truth = False
        self.cut_at_s: float | None = None  # a scripted violator's power cut (Fleet)

    @property
    def next_release_s(self) -> float:
        return min((r[0] for r in self._held.releases), default=math.inf)

    def next_event_s(self) -> float:
        return min(self.next_fix_s, self.next_upload_s, self.next_release_s)

    def _interval_s(self) -> float:
        cfg = self.config
        jittered = round(self.base_interval_s + self.rng.gauss(0.0, 2.0))
        return float(min(max(jittered, cfg.interval_min_s), cfg.interval_max_s))

    def on_fix_due(self, truth: TruthState) -> None:
        """Take (or fail to take) the fix due at ``next_fix_s``."""
        t_s = self.next_fix_s
        self.next_fix_s = t_s + self._interval_s()
        fix = self._sample(t_s, truth)
        if fix is None:
            return
        if self._held.remaining == 0 and self.rng.random() < self.config.late_prob:
            self._held.remaining = self.rng.randint(
                self.config.late_run_min, self.config.late_run_max
            )
        if self._held.remaining > 0:
            self._hold(t_s, fix)
        else:
            self._buffer.append(fix)
        if self._sent and self.rng.random() < self.config.duplicate_prob:
            self._buffer.append(dict(self.rng.choice(self._sent[-20:])))

    def _hold(self, t_s: float, fix: FixDict) -> None:
        held = self._held
        held.fixes.append(fix)
        held.remaining -= 1
        if held.remaining == 0:
            cfg = self.config
            delay_s = self.rng.uniform(cfg.late_delay_min_s, cfg.late_delay_max_s)
            held.releases.append((t_s + delay_s, held.fixes))
            held.fixes = []

    def _blacked_out(self, t_s: float, truth: TruthState) -> bool:
        cfg = self.config
        if cfg.tunnel_blackout and truth.tunnel:
            return True
        if t_s < self._blackout_until_s:
            return True
        if self.rng.random() < cfg.gap_prob:
            self._blackout_until_s = t_s + self.rng.uniform(cfg.gap_min_s, cfg.gap_max_s)
            return True
        return False

    def _sample(self, t_s: float, truth: TruthState) -> FixDict | None:
        east_m, north_m = self._next_error_m()
        if self.cut_at_s is not None and t_s >= self.cut_at_s:  # the last fix: the alarm
            self.cut_at_s = None
            self._blackout_until_s = t_s + CUT_SILENCE_S
            time = format_time(self.epoch + timedelta(seconds=t_s))
            return {
                **self._fix_dict(time, truth.lon, truth.lat, truth),
                "alarm_bits": POWER_CUT_ALARM,
            }
        if self._blacked_out(t_s, truth) or self.rng.random() < self.config.loss_prob:
            return None
        lat = truth.lat + math.degrees(north_m / EARTH_RADIUS_M)
        lon = truth.lon + math.degrees(
            east_m / (EARTH_RADIUS_M * math.cos(math.radians(truth.lat)))
        )
        time = format_time(self.epoch + timedelta(seconds=t_s))
        if self.record_truth:
            self.truth[time] = (truth.lon, truth.lat)
        return self._fix_dict(time, lon, lat, truth)

    def _next_error_m(self) -> tuple[float, float]:
        """AR(1) error with stationary RMS ``error_rms_m`` in the plane, clipped."""
        rho = self.config.error_correlation
        axis_sigma_m = self.error_rms_m / math.sqrt(2.0)
        innovation = math.sqrt(1.0 - rho * rho) * axis_sigma_m
        east_m = rho * self._error_m[0] + self.rng.gauss(0.0, innovation)
        north_m = rho * self._error_m[1] + self.rng.gauss(0.0, innovation)
        radius_m = math.hypot(east_m, north_m)
        limit_m = self.config.error_clip * self.error_rms_m
        if radius_m > limit_m:
            east_m, north_m = east_m * limit_m / radius_m, north_m * limit_m / radius_m
        self._error_m = (east_m, north_m)
        return east_m, north_m

    def _fix_dict(self, time: str, lon: float, lat: float, truth: TruthState) -> FixDict:
        rng = self.rng
        self.satellites = min(max(self.satellites + rng.choice((-1, 0, 0, 0, 1)), 5), 16)
        hdop = min(max(9.0 / self.satellites * rng.uniform(0.8, 1.2), 0.5), 5.0)
        moving = truth.speed_kmh > 0.0
        speed_kmh = max(truth.speed_kmh + rng.gauss(0.0, 1.0), 0.0) if moving else 0.0
        heading_deg = (truth.heading_deg + rng.gauss(0.0, 2.0)) % 360.0
        return {
            "time": time,
            "lon": round(lon, 7),
            "lat": round(lat, 7),
            "speed_kmh": round(speed_kmh, 1),
            "heading_deg": round(heading_deg, 1),
            "altitude_m": round(synthetic_altitude_m(lon, lat) + rng.gauss(0.0, 5.0), 1),
            "satellites": self.satellites,
            "hdop": round(hdop, 1),
            "valid": True,
            "ignition": True,
            "loaded": truth.loaded,
            "body_lifted": truth.body_lifted,
            "cover_closed": truth.cover_closed,
        }

    def on_upload_due(self) -> OutgoingBatch | None:
        t_s = self.next_upload_s
        cfg = self.config
        self.next_upload_s = t_s + self.rng.uniform(cfg.upload_min_s, cfg.upload_max_s)
        if not self._buffer:
            return None
        fixes, self._buffer = self._buffer, []
        self._sent.extend(fixes)
        del self._sent[:-40]
        return OutgoingBatch(self.truck, self.epoch + timedelta(seconds=t_s), fixes)

    def on_release_due(self) -> OutgoingBatch:
        releases = self._held.releases
        due = min(range(len(releases)), key=lambda i: releases[i][0])
        t_s, fixes = releases.pop(due)
        self._sent.extend(fixes)
        return OutgoingBatch(self.truck, self.epoch + timedelta(seconds=t_s), fixes, late=True)
