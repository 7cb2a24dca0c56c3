"""Message texts: a title and a body per event type and locale, zh-CN by default.

The defaults are the data file ``tracker/outbox/templates.json`` (a deployment may ship its
own); a city replaces any of them in the ``outbox_templates`` table (API:
``PUT /api/v1/outbox/templates/{event_type}``). Placeholders are ``{name}`` fields of the
event's payload plus ``type`` and ``time`` (the city's local time, Asia/Shanghai); a missing
field renders empty, so a template can never make a delivery fail.
"""

from __future__ import annotations

import functools
import json
import string
from collections.abc import Mapping
from datetime import datetime
from importlib import resources
from typing import Any
from zoneinfo import ZoneInfo

CITY_ZONE = ZoneInfo("Asia/Shanghai")
DEFAULT_LOCALE = "zh-CN"


def _load_defaults() -> dict[str, dict[str, tuple[str, str]]]:
    text = resources.files("tracker.outbox").joinpath("templates.json").read_text("utf-8")
    raw = json.loads(text)
    return {
        locale: {kind: (t["title"], t["body"]) for kind, t in kinds.items()}
        for locale, kinds in raw.items()
    }


# locale -> event type -> (title, body): tracker/outbox/templates.json
DEFAULTS: dict[str, dict[str, tuple[str, str]]] = _load_defaults()


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


@functools.lru_cache(maxsize=512)
def _parsed(template: str) -> tuple[tuple[str, str | None], ...]:
    """(literal, field) pairs of a template; fields other than plain ``{name}`` (attribute or
    index access from a city-edited template) are kept as literal text."""
    out: list[tuple[str, str | None]] = []
    for literal, name, spec, _conv in string.Formatter().parse(template):
        if name is None or name.isidentifier():
            out.append((literal, name))
        else:
            out.append((literal + "{" + name + (":" + spec if spec else "") + "}", None))
    return tuple(out)


def _safe(template: str, fields: Mapping[str, Any]) -> str:
    out = []
    for literal, name in _parsed(template):
        out.append(literal)
        if name is not None:
            value = fields.get(name, "")
            out.append("" if value is None else str(value))
    return "".join(out)


def local_time(moment: datetime) -> str:
    return moment.astimezone(CITY_ZONE).strftime("%Y-%m-%d %H:%M")


def render(
    event_type: str,
    payload: Mapping[str, Any],
    occurred_at: datetime,
    custom: tuple[str, str] | None = None,
    locale: str = DEFAULT_LOCALE,
) -> tuple[str, str]:
    """The (title, body) of an event: the city's template if given, else the default."""
    title, body = custom or DEFAULTS.get(locale, DEFAULTS[DEFAULT_LOCALE]).get(
        event_type, (event_type, "{time} " + event_type)
    )
    fields = _Blank(payload)
    fields["type"] = event_type
    fields["time"] = local_time(occurred_at)
    return _safe(title, fields).strip(), _safe(body, fields).strip()
