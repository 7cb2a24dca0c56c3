"""The public vehicle page's words, in zh-CN (the default: anyone in the city scans the code)
and English. Chosen by ``?lang=`` (a link on the page switches) or else by the browser's
Accept-Language; the terms follow the glossary in docs/DOMAIN.md."""

from __future__ import annotations

from typing import Final

LOCALES: Final = ("zh-CN", "en")
DEFAULT_LOCALE: Final = "zh-CN"

WORDS: Final[dict[str, dict[str, str]]] = {
    "zh-CN": {
        "title": "{plate} · 渣土车一车一码",
        "company": "运输企业",
        "permit": "核准证",
        "status": "状态",
        "checked": "查询时间",
        "colour.green": "绿色：可以运输",
        "colour.amber": "黄色：注意",
        "colour.red": "红色：禁止运输",
        "reason.valid": "核准证今日有效。",
        "reason.near_blacklist": "核准证今日有效；该车扣分接近黑名单。",
        "reason.no_permit": "今日无有效核准证。",
        "reason.suspended": "核准证已暂停：该车今日不得运输。",
        "reason.blacklisted": "已列入黑名单：该车不得运输。",
        "permit.valid": "今日有效（至 {date}）",
        "permit.void": "有效期至 {date}，但因列入黑名单而失效",
        "permit.none": "今日无有效核准证",
        "switch": "English",
        "missing.title": "未知的车辆码",
        "missing.text": "此码不属于任何登记车辆。",
        "zone.Asia/Shanghai": "北京时间",
    },
    "en": {
        "title": "{plate} · muck-tracker",
        "company": "Company",
        "permit": "Permit",
        "status": "Status",
        "checked": "Checked",
        "colour.green": "green: may haul",
        "colour.amber": "amber: take note",
        "colour.red": "red: may not haul",
        "reason.valid": "Permit valid today.",
        "reason.near_blacklist": "Permit valid today; the vehicle is close to the blacklist.",
        "reason.no_permit": "No valid transport permit today.",
        "reason.suspended": "Permit suspended: this vehicle may not haul today.",
        "reason.blacklisted": "Blacklisted: this vehicle may not haul.",
        "permit.valid": "valid today (until {date})",
        "permit.void": "dated until {date}, but void while the vehicle is blacklisted",
        "permit.none": "none valid today",
        "switch": "中文",
        "missing.title": "Unknown vehicle code",
        "missing.text": "This code belongs to no registered vehicle.",
        "zone.Asia/Shanghai": "Beijing time",
    },
}


def choose(asked: str | None, accept_language: str | None) -> str:
    """``?lang=`` when it names a locale; else the first of Accept-Language's tags we speak
    (``zh*`` is zh-CN, ``en*`` English, in the order given, q-values aside); else zh-CN."""
    if asked in LOCALES:
        return asked
    for part in (accept_language or "")[:200].split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return DEFAULT_LOCALE


def word(locale: str, key: str, **values: str) -> str:
    text = WORDS.get(locale, WORDS[DEFAULT_LOCALE]).get(key) or WORDS[DEFAULT_LOCALE][key]
    return text.format(**values) if values else text
