"""``GET /v/{code}``: the public page of a vehicle (no account; nothing private: no ids, phone
numbers, positions or driver), and the QR codes that lead to it (staff)."""

import html
import io
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import segno
from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from tracker.deps import PlatformDep, StaffDep
from tracker.errors import NotFound
from tracker.public import status

router = APIRouter(tags=["public"])
CODE = re.compile(r"^[0-9a-f]{32}$")
COLOURS = {"green": "#1b873f", "amber": "#c77700", "red": "#c62828"}

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{plate} · muck-tracker</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 0; padding: 1.5rem; max-width: 32rem; }}
.status {{ color: #fff; background: {bg}; border-radius: .5rem; padding: 1rem; }}
.status h1 {{ margin: 0 0 .25rem; font-size: 2rem; }}
dl {{ display: grid; grid-template-columns: auto 1fr; gap: .4rem 1rem; }}
dt {{ color: #555; }}
</style></head>
<body>
<div class="status" data-status="{colour}"><h1>{plate}</h1><p>{summary}</p></div>
<dl>
<dt>Company</dt><dd>{company}</dd>
<dt>Permit</dt><dd>{permit}</dd>
<dt>Status</dt><dd>{colour}</dd>
<dt>Checked</dt><dd>{checked}</dd>
</dl>
</body></html>
"""

_MISSING = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unknown vehicle code</title></head>
<body><h1>Unknown vehicle code</h1><p>This code belongs to no registered vehicle.</p></body>
</html>
"""


def render(found: status.PublicStatus, now: datetime) -> str:
    permit = f"valid today (until {found.valid_to})" if found.valid_to else "none valid today"
    return _PAGE.format(
        plate=html.escape(found.plate),
        company=html.escape(found.company),
        permit=html.escape(permit),
        colour=found.colour,
        bg=COLOURS[found.colour],
        summary=html.escape(found.summary),
        checked=now.strftime("%Y-%m-%d %H:%M UTC"),
    )


@router.get("/v/{code}", response_class=HTMLResponse, summary="Public page of a vehicle code")
async def public_page(code: str, platform: PlatformDep) -> HTMLResponse:
    headers = {"Cache-Control": "no-store"}
    if not CODE.match(code):
        return HTMLResponse(_MISSING, status_code=404, headers=headers)
    now = datetime.now(UTC)
    async with platform.pool.connection() as conn:
        today = now.astimezone(ZoneInfo(platform.settings.city_tz)).date()  # the city's day
        found = await status.by_code(conn, code, today)
    if found is None:
        return HTMLResponse(_MISSING, status_code=404, headers=headers)
    return HTMLResponse(render(found, now), headers=headers)


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
