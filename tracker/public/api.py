"""``GET /v/{code}``: the public page of a vehicle (no account; nothing private: no ids, phone
numbers, positions or driver), and the QR codes that lead to it (staff)."""

import html
import io
import re
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse, Response

from tracker.clues.models import ClueKind
from tracker.deps import PlatformDep, StaffDep
from tracker.errors import NotFound
from tracker.public import status, words
from tracker.settings import ClueSettings, Settings

router = APIRouter(tags=["public"])
CODE = re.compile(r"^[0-9a-f]{32}$")
COLOURS = {"green": "#1b873f", "amber": "#c77700", "red": "#c62828"}
DEFAULT_ZONE = "Asia/Shanghai"

_PAGE = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{title}</title>
<link rel="stylesheet" href="/map/node_modules/leaflet/dist/leaflet.css">
<link rel="stylesheet" href="/map/report.css">
<style>
body {{ font-family: system-ui, "Microsoft YaHei", "PingFang SC", sans-serif; margin: 0;
  padding: 1.5rem; max-width: 32rem; }}
.status {{ color: #fff; background: {bg}; border-radius: .5rem; padding: 1rem; }}
.status h1 {{ margin: 0 0 .25rem; font-size: 2rem; }}
dl {{ display: grid; grid-template-columns: auto 1fr; gap: .4rem 1rem; }}
dt {{ color: #555; }}
.switch {{ float: right; color: #fff; }}
</style></head>
<body>
<div class="status" data-status="{colour}" data-reason="{reason}">\
<a class="switch" href="?lang={other}" lang="{other}">{switch}</a>\
<h1>{plate}</h1><p>{summary}</p></div>
<dl>
<dt>{l_company}</dt><dd>{company}</dd>
<dt>{l_permit}</dt><dd data-permit="{permit_state}">{permit}</dd>
<dt>{l_status}</dt><dd>{colour_words}</dd>
<dt>{l_checked}</dt><dd>{checked}</dd>
</dl>
{report}
</body></html>
"""

# The report form (tracker.clues; words from web/locales/clues.js, filled in by its script).
_REPORT = """<section id="report" class="report">
<h2 data-i18n="clues.report.title">Report this vehicle</h2>
<p data-i18n="clues.report.intro"></p>
<form id="clue-form" data-code="{code}" data-max-photos="{max_photos}">
<label><span data-i18n="clues.kind">What</span><select name="kind" required>
{kinds}</select></label>
<label><span data-i18n="clues.text">Details</span><textarea name="text" rows="3"
 maxlength="{text_chars}" data-i18n-placeholder="clues.text.placeholder"></textarea></label>
<label><span data-i18n="clues.when">When</span><input type="datetime-local" name="observed_at"
 required></label>
<div><span data-i18n="clues.where">Where</span>
<div id="pick-map" class="pick-map"></div>
<p class="place"><span id="place"></span> · <span data-i18n="clues.where.hint"></span></p>
<button type="button" id="locate" class="secondary" data-i18n="clues.where.locate">Use my position
</button></div>
<label><span id="photos-label">Photos</span><input type="file" name="photos"
 accept="image/jpeg,image/png,image/*" multiple></label>
<label><span data-i18n="clues.contact">Contact</span><input name="contact"
 maxlength="{contact_chars}" autocomplete="tel"></label>
<button type="submit" data-i18n="clues.submit">Send</button>
</form>
<p id="report-message" class="message" hidden></p>
<h2 data-i18n="clues.status.title">Follow a report</h2>
<form id="status-form"><label><span data-i18n="clues.status.code">Receipt code</span>
<input id="status-code" maxlength="20" autocomplete="off" required></label>
<button type="submit" class="secondary" data-i18n="clues.status.check">Check</button></form>
<p id="status-out" class="message" hidden></p>
</section>
<script type="module" src="/map/clue-public.js"></script>"""

_MISSING = """<!doctype html>
<html lang="{lang}"><head><meta charset="utf-8"><title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body>
</html>
"""


def report_form(code: str, limits: ClueSettings) -> str:
    kinds = "".join(
        f'<option value="{k.value}" data-i18n="clues.kind.{k.value}">{k.value}</option>\n'
        for k in ClueKind
    )
    return _REPORT.format(
        code=code, kinds=kinds, max_photos=limits.max_photos, text_chars=limits.text_chars,
        contact_chars=limits.contact_chars,
    )  # fmt: skip


def city_zone(settings: Settings) -> ZoneInfo:
    """The city's zone (``TRACKER_CITY_TZ``, checked when the settings load)."""
    return ZoneInfo(settings.city_tz)


def _zone_label(locale: str, zone: ZoneInfo, now: datetime) -> str:
    named = words.WORDS[locale].get(f"zone.{zone.key}")
    if named:
        return named
    offset = now.astimezone(zone).utcoffset() or timedelta(0)
    hours, rest = divmod(int(offset.total_seconds()) // 60, 60)
    return f"UTC{hours:+d}" + (f":{rest:02d}" if rest else "")


def render(
    found: status.PublicStatus,
    now: datetime,
    locale: str,
    zone: ZoneInfo | None = None,
    report: str = "",
) -> str:
    zone = zone or ZoneInfo(DEFAULT_ZONE)
    w = partial(words.word, locale)
    if found.valid_to is None:
        permit, permit_state = w("permit.none"), "none"
    elif found.permit_void:
        permit, permit_state = w("permit.void", date=found.valid_to.isoformat()), "void"
    else:
        permit, permit_state = w("permit.valid", date=found.valid_to.isoformat()), "valid"
    local = now.astimezone(zone)
    return _PAGE.format(
        lang=locale,
        other=next(x for x in words.LOCALES if x != locale),
        switch=w("switch"),
        title=html.escape(w("title", plate=found.plate)),
        plate=html.escape(found.plate),
        company=html.escape(found.company),
        permit=html.escape(permit),
        permit_state=permit_state,
        colour=found.colour,
        colour_words=w(f"colour.{found.colour}"),
        reason=found.reason,
        bg=COLOURS[found.colour],
        summary=html.escape(w(f"reason.{found.reason}")),
        checked=f"{local:%Y-%m-%d %H:%M} {_zone_label(locale, zone, now)}",
        l_company=w("company"),
        l_permit=w("permit"),
        l_status=w("status"),
        l_checked=w("checked"),
        report=report,
    )


def _missing(locale: str) -> str:
    w = partial(words.word, locale)
    return _MISSING.format(lang=locale, title=w("missing.title"), text=w("missing.text"))


@router.get("/v/{code}", response_class=HTMLResponse, summary="Public page of a vehicle code")
async def public_page(
    code: str,
    platform: PlatformDep,
    lang: Annotated[str | None, Query(max_length=8)] = None,
    accept_language: Annotated[str | None, Header()] = None,
) -> HTMLResponse:
    """In zh-CN unless ``?lang=en`` or the browser prefers English (``Vary`` says so)."""
    locale = words.choose(lang, accept_language)
    headers = {"Cache-Control": "no-store", "Vary": "Accept-Language", "Content-Language": locale}
    if not CODE.match(code):
        return HTMLResponse(_missing(locale), status_code=404, headers=headers)
    zone = city_zone(platform.settings)
    now = datetime.now(UTC)
    async with platform.pool.connection() as conn:
        today = now.astimezone(zone).date()  # the city's day
        found = await status.by_code(conn, code, today)
    if found is None:
        return HTMLResponse(_missing(locale), status_code=404, headers=headers)
    report = report_form(code, platform.settings.clues)
    return HTMLResponse(render(found, now, locale, zone, report), headers=headers)


async def _qr(vehicle_id: int, platform: PlatformDep, who: StaffDep) -> segno.QRCode:
    async with platform.pool.connection() as conn:
        found = await status.code_of(conn, vehicle_id)
    if found is None or not who.sees_company(found[1]):
        raise NotFound(f"no vehicle {vehicle_id}", field="vehicle_id")
    return segno.make(public_url(platform.settings.public_base_url, found[0]), error="m")


def public_url(base_url: str, code: str) -> str:
    return f"{base_url.rstrip('/')}/v/{code}"


@router.get(
    "/api/v1/vehicles/{vehicle_id}/qr.svg",
    response_class=Response,
    summary="QR code (SVG) of the vehicle's public page",
)
async def qr_svg(vehicle_id: int, platform: PlatformDep, who: StaffDep) -> Response:
    qr = await _qr(vehicle_id, platform, who)
    out = io.BytesIO()
    qr.save(out, kind="svg", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/svg+xml")


@router.get(
    "/api/v1/vehicles/{vehicle_id}/qr.png",
    response_class=Response,
    summary="QR code (PNG) of the vehicle's public page",
)
async def qr_png(vehicle_id: int, platform: PlatformDep, who: StaffDep) -> Response:
    qr = await _qr(vehicle_id, platform, who)
    out = io.BytesIO()
    qr.save(out, kind="png", scale=8, border=4)
    return Response(out.getvalue(), media_type="image/png")
