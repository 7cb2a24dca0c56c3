"""Noise filters, in the spirit of Traccar's FilterHandler, each configurable.

Each rule flags a fix (stored with a bit in ``flags``) or rejects it (answered as refused with the
rule's reason, not stored), or is off. Pure: the caller passes the fixes, the settings and the
last known fix per vehicle (for the implied-speed jump rule).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from tracker.geo import haversine_m
from tracker.settings import FilterSettings
from tracker.wire import Fix, FixFlag


@dataclass(frozen=True, slots=True)
class Refusal:
    field: str
    message: str
    reason: str = "filter"  # the rule's name (the quarantine's reason code)


Rule = Callable[[Fix, FilterSettings], str | None]


def _zero(fix: Fix, _: FilterSettings) -> str | None:
    return "0/0 coordinates (no position)" if fix.lon == 0.0 and fix.lat == 0.0 else None


def _future(fix: Fix, cfg: FilterSettings) -> str | None:
    if fix.fix_time <= fix.received_at:
        return None
    ahead_s = (fix.fix_time - fix.received_at).total_seconds()
    return f"fix time {ahead_s:.0f} s ahead of now" if ahead_s > cfg.future_limit_s else None


def _past(fix: Fix, cfg: FilterSettings) -> str | None:
    age_s = (fix.received_at - fix.fix_time).total_seconds()
    return f"fix time {age_s / 86400:.0f} days old" if age_s > cfg.past_limit_s else None


def _invalid(fix: Fix, _: FilterSettings) -> str | None:
    return "terminal marked the fix invalid" if not fix.valid else None


def _accuracy(fix: Fix, cfg: FilterSettings) -> str | None:
    if fix.hdop is not None and fix.hdop > cfg.accuracy_max_hdop:
        return f"HDOP {fix.hdop:g} above {cfg.accuracy_max_hdop:g}"
    return None


# (settings attribute, flag, field named in a refusal, rule)
_RULES: tuple[tuple[str, FixFlag, str, Rule], ...] = (
    ("zero", FixFlag.ZERO, "lon", _zero),
    ("future", FixFlag.FUTURE, "time", _future),
    ("past", FixFlag.PAST, "time", _past),
    ("invalid", FixFlag.INVALID, "valid", _invalid),
    ("accuracy", FixFlag.ACCURACY, "hdop", _accuracy),
)


_JUMP = int(FixFlag.JUMP)


def _implied_speed_kmh(a: Fix, b: Fix) -> tuple[float, float]:
    distance_m = haversine_m(a.lon, a.lat, b.lon, b.lat)
    dt_s = abs((b.fix_time - a.fix_time).total_seconds())
    return distance_m, (math.inf if dt_s == 0 else distance_m / dt_s * 3.6)


def _active_rules(cfg: FilterSettings) -> list[tuple[int, str, Rule, bool, str]]:
    return [
        (int(flag), field, rule, getattr(cfg, attr) == "reject", attr)
        for attr, flag, field, rule in _RULES
        if getattr(cfg, attr) != "off"
    ]


def apply_filters(
    fixes: list[Fix], cfg: FilterSettings, last_fix: Mapping[int, Fix]
) -> list[Refusal | None]:
    """Flag fixes in place; return a refusal (or None) per fix, in input order."""
    out: list[Refusal | None] = [None] * len(fixes)
    rules = _active_rules(cfg)
    for i, fix in enumerate(fixes):
        for flag, field, rule, reject, name in rules:
            reason = rule(fix, cfg)
            if reason is None:
                continue
            if reject:
                out[i] = Refusal(field, reason, name)
                break
            fix.flags |= flag
    if cfg.jump != "off":
        _jump_rule(fixes, out, cfg, last_fix)
    return out


def _jump_rule(
    fixes: list[Fix], out: list[Refusal | None], cfg: FilterSettings, last_fix: Mapping[int, Fix]
) -> None:
    """Implied speed from the previous fix in time order (within the batch, else the last known)."""
    order = sorted(
        (i for i, r in enumerate(out) if r is None),
        key=lambda i: (fixes[i].vehicle_id, fixes[i].fix_time),
    )
    prev: Fix | None = None
    for i in order:
        fix = fixes[i]
        if prev is None or prev.vehicle_id != fix.vehicle_id:
            known = last_fix.get(fix.vehicle_id)
            prev = known if known is not None and known.fix_time < fix.fix_time else None
        if prev is not None and prev.fix_time != fix.fix_time:
            distance_m, speed_kmh = _implied_speed_kmh(prev, fix)
            if distance_m > cfg.jump_min_distance_m and speed_kmh > cfg.jump_max_speed_kmh:
                if cfg.jump == "reject":
                    out[i] = Refusal(
                        "lon", f"implied speed {speed_kmh:.0f} km/h from last fix", "jump"
                    )
                    continue  # a rejected fix is not the reference for the next one
                fix.flags |= _JUMP
                continue  # nor is a flagged jump: the next fix is compared with the good one
        prev = fix
