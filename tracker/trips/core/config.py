"""Rule configuration: docs/DOMAIN.md §2 defaults, per city, permit and zone; sensors per model.

Layers, each overriding the one before:

1. ``RuleConfig()``: the docs/DOMAIN.md §2 defaults (3 min dumping stop, 60 s and 2 fixes
   beyond the corridor, 2 min yard dwell, 5 min silence, ...).
2. The city: ``Settings.engine.city`` picks a preset from :data:`CITY_RULES` and
   ``Settings.engine.rules`` overrides single thresholds, e.g.
   ``TRACKER_ENGINE__RULES='{"dumping_dwell_s": 240, "speed_limit_kmh": 60}'``.
3. A permit: a row ``('permit', permit id)`` of the table ``engine_rule_overrides`` whose
   ``rules`` object holds any :class:`RuleConfig` field, plus ``corridor_half_width_m`` (the
   corridor tolerance for that permit's corridors). They apply to trips under that permit.
4. A zone: a row ``('zone', zone id)`` with ``speed_limit_kmh``, ``no_go`` and ``schedule``
   (``[{"start": "HH:MM", "end": "HH:MM"}]``, UTC, when the no-go rule is active), replacing the
   zone's own columns.

Sensors: ``Settings.engine.sensors`` maps a terminal model to the sensors whose bits can be
trusted (``lift``, ``cover``, ``load``); a vehicle whose terminal model is not listed is
tracked from GPS alone, and stray sensor bits from it are ignored.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from tracker.trips.core.models import RuleConfig, Sensors

RULE_FIELDS: Mapping[str, dataclasses.Field[Any]] = MappingProxyType(
    {f.name: f for f in dataclasses.fields(RuleConfig)}
)
PERMIT_ONLY = frozenset({"corridor_half_width_m"})
ZONE_KEYS = frozenset({"speed_limit_kmh", "no_go", "schedule"})
SENSOR_NAMES = frozenset({"lift", "cover", "load"})

# City presets (docs/DOMAIN.md §2.4): a city's general speed limit and the like. Hours are a
# permit's windows and zone limits a zone's, so they are not here.
CITY_RULES: Mapping[str, Mapping[str, Any]] = MappingProxyType(
    {
        "default": MappingProxyType({}),
        # urban expressway 60; zones carry 40 and 80
        "shenzhen": MappingProxyType({"speed_limit_kmh": 60.0}),
        "guangzhou": MappingProxyType({}),
        "mianyang": MappingProxyType({}),
        "taizhou": MappingProxyType({}),
    }
)


class RuleConfigError(ValueError):
    """A rule override that names an unknown setting or has a value of the wrong type."""


def _coerce(name: str, value: Any, where: str) -> Any:
    default = RULE_FIELDS[name].default
    if value is None:
        if name == "speed_limit_kmh":
            return None
        raise RuleConfigError(f"{where}: {name} must not be null")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RuleConfigError(f"{where}: {name} must be true or false")
        return value
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RuleConfigError(f"{where}: {name} must be a number")
    if value < 0:
        raise RuleConfigError(f"{where}: {name} must not be negative")
    return int(value) if isinstance(default, int) else float(value)


def rules_with(base: RuleConfig, overrides: Mapping[str, Any], where: str) -> RuleConfig:
    """``base`` with ``overrides`` applied; unknown names and wrong types raise
    :class:`RuleConfigError` naming ``where`` and the setting."""
    unknown = sorted(set(overrides) - set(RULE_FIELDS))
    if unknown:
        raise RuleConfigError(f"{where}: unknown rule setting(s) {', '.join(unknown)}")
    if not overrides:
        return base
    changes = {k: _coerce(k, v, where) for k, v in overrides.items()}
    return dataclasses.replace(base, **changes)


def city_rules(city: str, overrides: Mapping[str, Any]) -> RuleConfig:
    """The city layer: the preset for ``city`` (case-insensitive), then ``overrides``."""
    preset = CITY_RULES.get(city.lower())
    if preset is None:
        known = ", ".join(sorted(CITY_RULES))
        raise RuleConfigError(f"engine.city: unknown city {city!r} (known: {known})")
    base = rules_with(RuleConfig(), preset, f"city {city}")
    return rules_with(base, overrides, "engine.rules")


def split_permit_overrides(
    overrides: Mapping[str, Any], where: str
) -> tuple[dict[str, Any], float | None]:
    """A permit's overrides as (RuleConfig fields, corridor half-width or None)."""
    rules = {k: v for k, v in overrides.items() if k not in PERMIT_ONLY}
    half_width = overrides.get("corridor_half_width_m")
    if half_width is not None and (
        isinstance(half_width, bool) or not isinstance(half_width, int | float) or half_width <= 0
    ):
        raise RuleConfigError(f"{where}: corridor_half_width_m must be a positive number")
    return rules, None if half_width is None else float(half_width)


def check_zone_overrides(overrides: Mapping[str, Any], where: str) -> None:
    unknown = sorted(set(overrides) - ZONE_KEYS)
    if unknown:
        raise RuleConfigError(f"{where}: unknown zone setting(s) {', '.join(unknown)}")
    limit = overrides.get("speed_limit_kmh")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int | float) or limit <= 0
    ):
        raise RuleConfigError(f"{where}: speed_limit_kmh must be a positive number")
    if "no_go" in overrides and not isinstance(overrides["no_go"], bool):
        raise RuleConfigError(f"{where}: no_go must be true or false")
    schedule = overrides.get("schedule", [])
    if not isinstance(schedule, list) or not all(
        isinstance(w, dict)
        and isinstance(w.get("start"), str)
        and isinstance(w.get("end"), str)
        and (
            w.get("days") is None
            or (
                isinstance(w["days"], list)
                and all(isinstance(d, int) and not isinstance(d, bool) for d in w["days"])
            )
        )
        for w in schedule
    ):
        raise RuleConfigError(
            f"{where}: schedule must be a list of {{start, end}} HH:MM (local) with optional "
            "days 1 (Monday) to 7 (Sunday)"
        )


def sensors_by_model(mapping: Mapping[str, Iterable[str]]) -> dict[str, Sensors]:
    """``{"model": ["lift", "cover"]}`` to :class:`Sensors` per model."""
    out: dict[str, Sensors] = {}
    for model, names in mapping.items():
        names = set(names)
        unknown = sorted(names - SENSOR_NAMES)
        if unknown:
            raise RuleConfigError(f"engine.sensors.{model}: unknown sensor(s) {unknown}")
        out[model] = Sensors("lift" in names, "cover" in names, "load" in names)
    return out
